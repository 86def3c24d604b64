"""What the runs say about the paper's claims: pure numbers, no torch.

=============  ===============================================================================
``paper``      the paper's quoted numbers and claims
``seedstats``  means, spreads and intervals across seeds
``arms``       runs grouped into arms (one setting, several seeds)
``verdicts``   reproduced / not reproduced / inconclusive, from arms and the paper
``crossval``   k-fold cross-validation: each seed's test folds pooled into one report
``effects``    arm minus reference over seeds *and* test images; margins, detectable effects
``simulate``   simulated studies with a known difference: the interval's measured coverage
``decisions``  a comparison claim's status from its effects and margin (or "not tested here")
``scaling``    test error against scale, a saturating fit and its floor's interval
=============  ===============================================================================
"""

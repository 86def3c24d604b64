"""Running the suite: profiles -> papermill parameters -> executed notebooks -> the book.

==================  ===========================================================================
``profiles``        a profile's runs and their flat parameters, validated when loaded
``notebook_params`` the parameters each notebook declares
``roles``           the one table of notebook roles (trains, data, page) and the runs each reads
``runner``          ``wbcrepro reproduce``: execute what is stale, record every run
``commands``        the ``reproduce`` and ``book`` commands: arguments and what each does
``records``         one run's record, whether it is stale, and executing the run to write it
``cluster``         ``--executor inline|local|slurm``: job resources, GPUs, checks before a job
``jobs``            training runs as submitit jobs (arrays, requeue, ``--detach`` and collect)
``dryrun``          ``--dry-run``: every notebook of a profile at tiny scale on the CPU
``estimate``        ``--plan --img-per-s``: minutes from a measured speed, missing data/weights
``inputs``          fingerprints of the runs a page read: is the page stale since?
``plan``            ``wbcrepro reproduce --plan``: train, render or skip, why, and how long
``scheduling``      which runs may execute side by side, with how many threads
``outcomes``        what one call did, and which call trained each run
``executed``        executed notebooks and run folders made portable (no paths, no timestamps)
``book``            the table of contents and the Jupyter Book build
==================  ===========================================================================
"""

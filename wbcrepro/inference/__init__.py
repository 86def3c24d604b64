"""Using a trained model: loading it, predicting new images, other labs' data, explanations.

===================  ========================================================================
``model_loading``    a run folder's selected model, checked against its record
``checkpoint_eval``  ``wbcrepro evaluate``: a run's model on a split of its data set
``predict``          ``wbcrepro predict``: a folder of images -> a CSV of classes
``shipped``          the exported model in one file (``assets/pbc6.pt``) and its loader
``crossdomain``      a run's model on every image of another data set
``explain``          Grad-CAM panels of test images
===================  ========================================================================
"""

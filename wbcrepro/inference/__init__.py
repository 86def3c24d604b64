"""Using a trained model: loading it, predicting new images, other labs' data, explanations.

Every use of a model goes through ``loading`` (one loader, one preprocessing path, one batched
probability function) and ``decision`` (one rule from probabilities to a label), so one image
gets one answer whatever the entry point.

===================  ========================================================================
``loading``          ``load_model``: a run folder, checkpoint or shipped file -> the model, its
                     preprocessing (the run's decode size and eval transform) and provenance;
                     ``class_probabilities`` of a batch of images
``decision``         label spaces and the one decision rule (sum mapped classes, then argmax)
``run_model``        a run folder's selected model, checked against its records
``checkpoint_eval``  ``wbcrepro evaluate``: a run's model on a split of its data set
``predict``          ``wbcrepro predict``: a folder of images -> a CSV of classes
``confidence``       the per-image ``unsure`` flag and the batch warning (validation-chosen)
``adapt``            ``predict --adapt``: BatchNorm statistics from the images to classify
``shipped``          the shipped-model file format (``assets/pbc6.pt``) and its export
``crossdomain``      a model on every image of another data set
``explain``          Grad-CAM panels of test images
===================  ========================================================================
"""

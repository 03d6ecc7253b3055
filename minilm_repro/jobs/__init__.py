"""How any job runs: the stage skeleton (``stage``), the training lifecycle (``training_run``,
``trainer_setup``), work dirs and resume (``workdir``), model directories (``model_io``), atomic
writes (``atomic``), processes and devices (``distributed``, ``launch``, ``gpu_slots``), and the
job's record and MLflow run (``records``, ``tracking``)."""

"""Config -> jobs: the planner (``planner``), its checks beyond the schema (``checks``), what
``minilm-repro plan`` shows (``view``), and projected compute (``cost``, ``flops``)."""

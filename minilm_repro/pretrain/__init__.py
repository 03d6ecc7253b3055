"""Masked-LM pretraining: the tiny teachers of the smoke profile and the from-scratch baseline
(``train``: the ``pretrain`` stage; ``masking``: seeded masking and the MLM trainer)."""

"""Table 3 (B), d_k=32 (d_v=64): PPL 5.01, BLEU 25.4, 60M parameters."""

from common import table3


def get_config():
    return table3(key_dim=32)

"""Table 3 (D), P_drop=0.0: PPL 5.77, BLEU 24.6."""

from common import table3


def get_config():
    return table3(dropout_rate=0.0)

"""Table 3 (D), P_drop=0.2: PPL 4.95, BLEU 25.5."""

from common import table3


def get_config():
    return table3(dropout_rate=0.2)

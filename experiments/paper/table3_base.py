"""Table 3, base: PPL 4.92, BLEU 25.8, 65M parameters."""

from common import table3


def get_config():
    return table3()

"""Table 3 (E), learned positional embedding: PPL 4.92, BLEU 25.7."""

from common import table3


def get_config():
    return table3(positional="learned")

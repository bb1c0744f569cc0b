"""Table 2: Transformer (big), EN-DE: BLEU 28.4."""

from common import wmt14


def get_config():
    return wmt14("big", "de")

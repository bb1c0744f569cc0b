"""Table 2: Transformer (big), EN-FR: BLEU 41.8 (P_drop 0.1 for en-fr, section 6.1)."""

from common import wmt14


def get_config():
    return wmt14("big", "fr", dropout_rate=0.1)

"""Table 3 (C), N=2: PPL 6.11, BLEU 23.7, 36M."""

from common import table3


def get_config():
    return table3(num_encoder_layers=2, num_decoder_layers=2)

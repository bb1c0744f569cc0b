"""Table 3 (C), N=4: PPL 5.19, BLEU 25.3, 50M."""

from common import table3


def get_config():
    return table3(num_encoder_layers=4, num_decoder_layers=4)

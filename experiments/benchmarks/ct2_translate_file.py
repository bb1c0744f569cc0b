"""The CTranslate2 side of translate_file.py: what `jaxformer translate` does, with the deployed
engine: sentencepiece in, `translate_batch` over batches of 32 (it sorts by length itself), beam
search, sentencepiece out, one line per input line.

    python -m experiments.benchmarks.ct2_translate_file CT2_DIR HF_DIR INPUT OUTPUT BEAM MAX_LEN THREADS
"""

import sys


def main(ct2_dir: str, hf_dir: str, source: str, output: str, beam: str, max_len: str, threads: str) -> None:
    import ctranslate2
    import sentencepiece as spm

    src_sp = spm.SentencePieceProcessor(model_file=f"{hf_dir}/source.spm")
    tgt_sp = spm.SentencePieceProcessor(model_file=f"{hf_dir}/target.spm")
    translator = ctranslate2.Translator(ct2_dir, device="cpu", compute_type="float32", inter_threads=1,
                                        intra_threads=int(threads))
    with open(source, encoding="utf-8") as f:
        lines = f.read().splitlines()
    pieces = [src_sp.encode(line, out_type=str) + ["</s>"] for line in lines]
    results = translator.translate_batch(pieces, max_batch_size=32, beam_size=int(beam),
                                         max_decoding_length=int(max_len), length_penalty=1.0)
    with open(output, "w", encoding="utf-8") as f:
        for r in results:
            f.write(tgt_sp.decode_pieces(r.hypotheses[0]).strip() + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:])

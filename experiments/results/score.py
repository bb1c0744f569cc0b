"""Every BLEU convention for one hypothesis file, so results compare with any paper.

    python experiments/results/score.py HYPOTHESES REFERENCES [--lang de]

Prints sacreBLEU (cased, detokenized, 13a; the number to compare across papers) with its
signature and chrF, the Transformer paper's tokenized BLEU (Moses + compound split, cased), and
the lowercased tokenized BLEU most Multi30k papers report.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from jaxformer import evaluate
from jaxformer.data.text import decode_lines


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("hypotheses", type=Path)
    p.add_argument("references", type=Path)
    p.add_argument("--lang", default="de")
    a = p.parse_args(argv)
    hyps = decode_lines(a.hypotheses.read_bytes(), str(a.hypotheses))
    refs = decode_lines(a.references.read_bytes(), str(a.references))
    if len(hyps) != len(refs):
        raise SystemExit(f"{len(hyps)} hypotheses but {len(refs)} references")
    s = evaluate.scores(hyps, refs, target_lang=a.lang)
    s["lc_tok_bleu"] = evaluate.lowercase_tokenized_bleu(hyps, refs, a.lang)
    print(f"sacreBLEU {s['bleu']:.2f}  ({s['bleu_signature']})")
    print(f"chrF      {s['chrf']:.2f}  ({s['chrf_signature']})")
    print(f"tokenized BLEU, cased, compounds split (the paper's method): {s['tok_bleu']:.2f}")
    print(f"tokenized BLEU, lowercased (Multi30k papers' multi-bleu -lc): {s['lc_tok_bleu']:.2f}")
    return s


if __name__ == "__main__":
    main()

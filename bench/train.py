"""VIB training throughput: ``infotheory.ib.Trainer`` vs a plain hand-written PyTorch VIB step on the
same model (the paper's MLP, 784-{512}x3-{256}x3-2K, K = 256, batch 100, Adam).

    python bench/train.py [--threads 1] [--quick]

Writes bench/results/train.json: samples/s of both and their ratio (> 1: the Trainer is faster).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import Bench, parser


def main() -> None:
    args = parser(__doc__).parse_args()
    bench = Bench("train", threads=args.threads, out=args.out)
    import torch
    import torch.nn.functional as F

    from infotheory.ib import VIB, Trainer

    n = 500 if args.quick else 2000
    bs, beta = 100, 1e-3
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)

    torch.manual_seed(0)
    ours_model = VIB.mlp(784, 10)
    trainer = Trainer(ours_model, beta=beta, lr=1e-3, batch_size=bs, quiet=True)

    torch.manual_seed(0)
    plain = VIB.mlp(784, 10)
    enc, dec, K = plain.encoder, plain.decoder, plain.K
    opt = torch.optim.Adam(plain.parameters(), lr=1e-3)

    def ours() -> None:
        trainer.fit((x, y), None, len(trainer.history) + 1)

    def baseline() -> None:
        plain.train()
        perm = torch.randperm(n)
        for i in range(0, n, bs):
            idx = perm[i : i + bs]
            h = enc(x[idx])
            mu, sigma = h[:, :K], F.softplus(h[:, K:] - 5.0)
            logits = dec(mu + sigma * torch.randn_like(mu))
            ce = F.cross_entropy(logits, y[idx])
            kl = 0.5 * (sigma.square() + mu.square() - 1.0 - 2.0 * sigma.log()).sum(1).mean()
            loss = ce + beta * kl
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    repeat = 3 if args.quick else 5
    ratio = bench.compare(
        f"VIB MLP epoch of {n}, batch {bs}",
        ours,
        baseline,
        baseline_name="hand-written VIB step",
        work=n,
        repeat=repeat,
    )
    row = bench.rows[-1]
    row["ours_samples_per_s"] = n / row["ours_s"]
    row["baseline_samples_per_s"] = n / row["baseline_s"]
    print(
        f"samples/s: ours {row['ours_samples_per_s']:.0f}, plain {row['baseline_samples_per_s']:.0f}, x{ratio:.2f}"
    )
    bench.finish()


if __name__ == "__main__":
    main()

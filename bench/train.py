"""VIB training throughput: ``infotheory.ib.Trainer`` vs a plain hand-written PyTorch VIB step on the
same model (the paper's MLP, 784-{512}x3-{256}x3-2K, K = 256, batch 100, Adam).

    python bench/train.py [--threads 1] [--quick]
    python bench/train.py --accuracy [--threads 2] [--epochs 20]

Writes bench/results/train.json: samples/s of both and their ratio (> 1: the Trainer is faster).
``--accuracy`` instead trains the VIB and CE MLPs on the embedded MNIST sample (the issue's acceptance:
>= 94% test accuracy) and sweeps beta over 1e-4 .. 1e-1 (I(X;T) must fall as beta grows), writing
bench/results/train_accuracy.json.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import Bench, parser


def accuracy(args) -> None:
    bench = Bench("train_accuracy", threads=args.threads, out=args.out)
    import torch

    from infotheory.data import load
    from infotheory.ib import VIB, CEClassifier, Trainer

    d = load("mnist-sample")
    for name, cls in (("vib", VIB), ("ce", CEClassifier)):
        torch.manual_seed(0)
        t = Trainer(cls.mlp(d.in_features, 10), beta=1e-3, lr=1e-3, ema=0.999, quiet=True)
        h = t.fit(d.train, d.test, args.epochs)
        accs = h.column("test_acc")
        first = next((r["epoch"] for r in h.records if r["test_acc"] >= 0.94), None)
        bench.record(
            f"{name} MLP, mnist-sample, beta 1e-3",
            epochs=args.epochs,
            final_test_acc=accs[-1],
            best_test_acc=max(accs),
            first_epoch_at_94=first,
            seconds=sum(h.column("seconds")),
            test_acc=accs,
        )
    sweep = {}
    for beta in (1e-4, 1e-3, 1e-2, 1e-1):
        torch.manual_seed(0)
        t = Trainer(VIB.mlp(d.in_features, 10), beta=beta, lr=1e-3, ema=0.999, quiet=True)
        r = t.fit(d.train, d.test, args.sweep_epochs).last
        sweep[beta] = r
        bench.record(
            f"beta sweep {beta:g}",
            epochs=args.sweep_epochs,
            ixt=r["ixt"],
            test_ixt=r["test_ixt"],
            iyt=r["iyt"],
            test_acc=r["test_acc"],
        )
    ixt = [sweep[b]["test_ixt"] for b in sorted(sweep)]
    bench.record(
        "I(X;T) falls as beta grows", monotone=all(a > b for a, b in itertools.pairwise(ixt))
    )
    bench.finish()


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--accuracy", action="store_true", help="accuracy and beta sweep, not speed")
    p.add_argument("--epochs", type=int, default=20, help="epochs of the accuracy runs")
    p.add_argument("--sweep-epochs", type=int, default=8, help="epochs of each beta-sweep run")
    args = p.parse_args()
    if args.accuracy:
        accuracy(args)
        return
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

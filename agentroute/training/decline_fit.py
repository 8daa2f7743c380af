"""Fit a pack's no-tool-fits head (``steps.decline_head``) on held-out train tool-call steps.

Logistic regression on standardised prompt features, the classes weighted to equal mass (about
one step in five has no fitting tool). Out-of-fold scores (five seeded folds) set the threshold:
the lowest probability at which at most ``false_decline_rate`` of the steps
whose tools fit would decline (a wrong decline ends an agent without the call it needed, so it
costs more than a wrong call, which a framework's tool error still shows; the pipeline's default
is 0.5%, set on requests outside the data, ``TrainConfig.decline_false_rate``); the head itself is
fit on all rows. The out-of-fold AUC and share of no-tool-fits steps declined go into the metrics.
"""

from __future__ import annotations

import torch

from agentroute.steps.decline_head import DeclineHead

# L2 on the standardised weights, and the layer read: a probe on 1500 train-split tool-call steps
# of data v4 under the v4 pack, scored on the 110 dev steps: last token after layer 20, dev AUC
# 0.93 / 0.96 / 0.97 at L2 1e-3 / 1e-2 / 1e-1 (86% of no-tool-fits steps declined at 5% false
# declines); layers 4 / 12 / 24 / 30 reached 0.86 / 0.92 / 0.95 / 0.96.
DECLINE_L2 = 1e-1
FOLDS = 5
MIN_ROWS_PER_KIND = 5  # fewer steps of either kind fit no head (the pipeline then trains none)
DECLINE_DEPTH = 2 / 3  # layer 20 of 30; other models read the head at the same share of their depth


def decline_layer(n_layers: int) -> int:
    return max(1, round(DECLINE_DEPTH * n_layers))


def fit_decline_head(
    hidden_size: int,
    features: torch.Tensor,
    no_tool_fits: torch.Tensor,
    seed: int,
    false_decline_rate: float = 0.05,
) -> tuple[DeclineHead, float, dict]:
    """(head, threshold, metrics) from last-token states [N, hidden] and labels [N] (1: no tool fits)."""
    labels = no_tool_fits.long()
    if min(int(labels.sum()), int((1 - labels).sum())) < MIN_ROWS_PER_KIND:
        raise ValueError(
            f"the no-tool-fits head needs at least {MIN_ROWS_PER_KIND} steps of each kind, got "
            f"{int(labels.sum())} without a fitting tool and {int((1 - labels).sum())} with one; build data v4 "
            "or later (`agentroute data build`)"
        )
    # Out-of-fold scores over five seeded folds, each kind split evenly among them: every row is
    # scored by a head that did not see it. (A single held-out fifth set the 2% threshold at 0.71 or
    # 0.89 depending on which fifth: about four rows decided it.)
    generator = torch.Generator().manual_seed(seed)
    fold = torch.empty(len(labels), dtype=torch.long)
    for kind in (0, 1):
        rows = torch.nonzero(labels == kind)[:, 0]
        fold[rows[torch.randperm(len(rows), generator=generator)]] = torch.arange(len(rows)) % FOLDS
    scores = torch.empty(len(labels))
    for k in range(FOLDS):
        probe = _fit(hidden_size, features[fold != k], labels[fold != k])
        with torch.inference_mode():
            scores[fold == k] = torch.sigmoid(probe(features[fold == k]))
    fits = scores[labels == 0].sort().values
    threshold = float(fits[min(len(fits) - 1, int((1 - false_decline_rate) * len(fits)))])
    head = _fit(hidden_size, features, labels)
    none_fit = scores[labels == 1]
    metrics = {
        "decline_rows": len(labels),
        "decline_out_of_fold_auc": round(_auc(scores, labels), 4),
        "decline_out_of_fold_recall": round(float((none_fit >= threshold).float().mean()), 4),
        "decline_out_of_fold_false_rate": round(float((fits >= threshold).float().mean()), 4),
    }
    return head, threshold, metrics


def _fit(hidden_size: int, features: torch.Tensor, labels: torch.Tensor) -> DeclineHead:
    head = DeclineHead(hidden_size)
    with torch.no_grad():
        head.mean.copy_(features.mean(0))
        head.std.copy_(features.std(0) + 1e-4)
        head.linear.weight.zero_()
        head.linear.bias.zero_()
    positive = labels.float()
    weight = (1 - positive).sum() / positive.sum().clamp(min=1)
    params = list(head.linear.parameters())
    optimizer = torch.optim.LBFGS(params, max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(head(features), positive, pos_weight=weight)
        loss = loss + DECLINE_L2 * head.linear.weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return head.eval()


def _auc(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """Probability that a random no-tool-fits step scores above a random step whose tools fit."""
    pos, neg = scores[labels == 1], scores[labels == 0]
    if not len(pos) or not len(neg):
        return float("nan")
    above = (pos[:, None] > neg[None]).float().mean() + 0.5 * (pos[:, None] == neg[None]).float().mean()
    return float(above)

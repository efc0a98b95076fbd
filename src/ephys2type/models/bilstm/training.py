"""The BiLSTM's training loop: AdamW, class-weighted cross-entropy or focal loss, early
stopping on a validation set, several training sets (e.g. two species) on their own heads."""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ephys2type.models.bilstm import MAX_EPOCHS
from ephys2type.models.bilstm.network import TRUNK, FamilyAttentionBiLSTM


@dataclass
class TrainSet:
    """Tensors of one training (or validation) set and the head and weights it uses."""

    x: torch.Tensor
    mask: torch.Tensor
    y: torch.Tensor
    class_weights: torch.Tensor
    head: str = "main"
    loss_scale: float = 1.0


@dataclass
class TrainConfig:
    loss: str = "ce"
    focal_gamma: float = 2.0
    lr: float = 1e-3
    weight_decay: float = 1e-2
    batch_size: int = 128
    max_epochs: int = MAX_EPOCHS
    patience: int = 15
    frozen_epochs: int = 0  # epochs at the start during which only the heads learn
    #: chance that a family a training cell has is hidden from it in a batch (0: never)
    family_dropout: float = 0.0


def fit_module(
    module: FamilyAttentionBiLSTM,
    train: Sequence[TrainSet],
    val: TrainSet | None,
    config: TrainConfig,
    rng: np.random.Generator,
) -> tuple[list[dict], int]:
    """AdamW training with early stopping on ``val`` (class-weighted cross-entropy).

    Batches of all ``train`` sets are shuffled together each epoch; a batch's loss uses its
    set's head and is scaled by its ``loss_scale``. During the first ``frozen_epochs`` only
    the heads are trained (and early stopping waits). With ``family_dropout`` each family a
    training cell has is masked out of its batch with that chance (a cell keeps at least one
    family), so the network learns to call cells recorded with fewer protocols; validation
    cells are never masked. The best weights are kept.
    Returns the per-epoch history and the best epoch (1-based).
    """
    optimizer = torch.optim.AdamW(
        module.parameters(), lr=config.lr, weight_decay=config.weight_decay, foreach=True
    )
    best, best_state, best_epoch, wait, history = math.inf, None, 0, 0, []
    for epoch in range(config.max_epochs):
        frozen = epoch < config.frozen_epochs
        for name, param in module.named_parameters():
            param.requires_grad_(not (frozen and name.startswith(TRUNK)))
        module.train()
        batches = [
            (k, torch.as_tensor(idx))
            for k, ts in enumerate(train)
            for idx in np.array_split(
                rng.permutation(len(ts.y)), max(1, int(np.ceil(len(ts.y) / config.batch_size)))
            )
        ]
        total, count = 0.0, 0
        for b in rng.permutation(len(batches)):
            k, idx = batches[b]
            ts = train[k]
            mask = ts.mask[idx]
            if config.family_dropout > 0:
                mask = drop_families(mask, config.family_dropout, rng)
            logits, _ = module(ts.x[idx], mask, ts.y[idx], head=ts.head)
            if config.loss == "focal":
                loss = focal_loss(logits, ts.y[idx], ts.class_weights, config.focal_gamma)
            else:
                loss = F.cross_entropy(logits, ts.y[idx], weight=ts.class_weights)
            optimizer.zero_grad()
            (ts.loss_scale * loss).backward()
            nn.utils.clip_grad_norm_(module.parameters(), 5.0)
            optimizer.step()
            total += loss.item() * len(idx)
            count += len(idx)
        record = {"epoch": epoch + 1, "train_loss": total / max(count, 1)}
        if val is not None:
            module.eval()
            with torch.no_grad():
                logits, _ = module(val.x, val.mask, head=val.head)
                score = float(F.cross_entropy(logits, val.y, weight=val.class_weights))
            record["val_loss"] = score
            if score < best - 1e-4:
                best, wait, best_epoch = score, 0, epoch + 1
                best_state = copy.deepcopy(module.state_dict())
            elif not frozen:
                wait += 1
        history.append(record)
        if val is not None and wait >= config.patience:
            break
    for param in module.parameters():
        param.requires_grad_(True)
    if best_state is not None:
        module.load_state_dict(best_state)
    else:
        best_epoch = len(history)
    module.eval()
    return history, best_epoch


def drop_families(mask: torch.Tensor, rate: float, rng: np.random.Generator) -> torch.Tensor:
    """``mask`` with each present family hidden with chance ``rate``; a cell that would lose
    every family keeps its own mask."""
    kept = mask & torch.as_tensor(rng.random(tuple(mask.shape)) >= rate)
    empty = ~kept.any(dim=1)
    kept[empty] = mask[empty]
    return kept


@contextmanager
def torch_threads(n: int):
    """Run a block with ``n`` torch threads, then restore the previous setting."""
    previous = torch.get_num_threads()
    torch.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def focal_loss(logits, y, alpha, gamma):
    """Focal loss (Lin et al. 2017) with per-class weights ``alpha``."""
    logp = F.log_softmax(logits, dim=1).gather(1, y[:, None]).squeeze(1)
    return (-alpha[y] * (1 - logp.exp()) ** gamma * logp).mean()

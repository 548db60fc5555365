"""The autograd functions of the built-in methods, in a module of their own: their classes derive from torch's, and
the methods import this module when they first train, so that naming or listing a method needs no torch. (A file
whose name starts with "_" registers no method.)"""

import torch


class StaleHalo(torch.autograd.Function):
    """PipeGCN's halo rows (``baselines/pipegcn.py``). Forward: the (stale) halo rows, unchanged. Backward: the halo
    rows' gradient is handed to ``on_grad`` (to be sent to their owners) and the inner rows receive the stale
    gradient their holders sent last epoch."""

    @staticmethod
    def forward(ctx, h_inner, halo, stale_inner_grad, on_grad):
        ctx.stale_inner_grad, ctx.on_grad = stale_inner_grad, on_grad
        return halo.clone()

    @staticmethod
    def backward(ctx, grad_halo):
        ctx.on_grad(grad_halo)
        return ctx.stale_inner_grad, None, None, None


class Compensated(torch.autograd.Function):
    """LMC's halo rows (``baselines/lmc.py``). Forward ``α·partial + (1 − α)·history``; backward hands ``partial``
    the compensated gradient ``α·g + (1 − α)·g_hist`` (and ``history`` none)."""

    @staticmethod
    def forward(ctx, partial, history, alpha, grad_history):
        ctx.save_for_backward(alpha, grad_history)
        return alpha * partial + (1 - alpha) * history

    @staticmethod
    def backward(ctx, grad):
        alpha, grad_history = ctx.saved_tensors
        return alpha * grad + (1 - alpha) * grad_history, None, None, None

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


class CachedHalo(torch.autograd.Function):
    """SANCUS's halo rows (``baselines/sancus.py``). Forward: the cached (last broadcast) halo rows, unchanged.
    Backward: the halo rows' gradient travels back to their owners, synchronously (``halo_grad``), and is summed into
    the owners' current inner rows, as the authors' backward broadcasts ``grad_output`` whether or not the forward
    rows came from the cache. ``sent`` (``[num_halo]`` bool): the rows whose gradient is sent, ``receives``: whether
    this worker's own rows get gradients back from its peers (both from the same per-owner decision)."""

    @staticmethod
    def forward(ctx, h_inner, rows, comm, sent, receives):
        ctx.comm, ctx.num_inner, ctx.sent, ctx.receives = comm, h_inner.size(0), sent, receives
        ctx.layer = comm.position.layer
        return rows.clone()

    @staticmethod
    def backward(ctx, grad_halo):
        comm, sent = ctx.comm, ctx.sent
        owner = torch.repeat_interleave(torch.arange(comm.world_size, device=sent.device),
                                        torch.tensor(comm.halo_counts, device=sent.device))
        send_counts = [int(count) for count in torch.bincount(owner[sent], minlength=comm.world_size).tolist()]
        recv_counts = list(comm.send_counts) if ctx.receives else [0] * comm.world_size
        with comm.position.at(ctx.layer):
            grad_sent = comm.exchange_rows(grad_halo[sent].contiguous(), send_counts, recv_counts, "halo_grad")
        grad_inner = grad_halo.new_zeros(ctx.num_inner, grad_halo.size(1))
        if ctx.receives:
            grad_inner.index_add_(0, comm.send_index, grad_sent)
        return grad_inner, None, None, None, None

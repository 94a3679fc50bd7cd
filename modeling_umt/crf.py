"""Linear-chain conditional random field (Lafferty et al., 2001), batch-first and vectorised over the batch.

Scores follow Eq. 4-5 of the UMT paper: score(x, y) = start[y_1] + sum_i E[i, y_i] + sum_i T[y_i, y_{i+1}] + end[y_n].
Every computation loops over positions only (the scan a chain needs); the batch and the tag dimension are
array operations. Viterbi decoding scans from both ends of the chain at once, in NumPy (`viterbi_paths`). Masks
are (B, L) booleans, True on real positions, left-aligned (a sequence's real positions come first); a sequence may
be empty (all False).
"""

import numpy as np
import torch
from torch import nn


class LinearChainCRF(nn.Module):
    """A CRF over `num_tags` tags with transition, start and end scores.

    Args:
        num_tags: size of the tag set.
    """

    def __init__(self, num_tags: int):
        super().__init__()
        if num_tags < 1:
            raise ValueError(f"LinearChainCRF needs at least one tag, got num_tags={num_tags}.")
        self.num_tags = num_tags
        self.transitions = nn.Parameter(torch.zeros(num_tags, num_tags))  # [from, to]
        self.start_transitions = nn.Parameter(torch.zeros(num_tags))
        self.end_transitions = nn.Parameter(torch.zeros(num_tags))

    def extra_repr(self) -> str:
        return f"num_tags={self.num_tags}"

    def _check(self, emissions: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Validate shapes; return the emissions in at least float32 (half-precision log-sum-exp over a chain loses
        too much) and a boolean (B, L) mask."""
        if emissions.dim() != 3 or emissions.size(-1) != self.num_tags:
            raise ValueError(
                f"LinearChainCRF: emissions must be (batch, length, {self.num_tags}), got {tuple(emissions.shape)}."
            )
        emissions = emissions.to(torch.promote_types(emissions.dtype, torch.float32))
        if mask is None:
            return emissions, torch.ones(emissions.shape[:2], dtype=torch.bool, device=emissions.device)
        if mask.shape != emissions.shape[:2]:
            raise ValueError(
                f"LinearChainCRF: mask shape {tuple(mask.shape)} does not match emissions {tuple(emissions.shape[:2])}."
            )
        mask = mask.bool()
        if mask.size(1) > 1 and bool((mask[:, 1:] > mask[:, :-1]).any()):
            raise ValueError("LinearChainCRF: masks must be left-aligned (real positions first, padding after).")
        return emissions, mask

    def _forward_scores(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Forward algorithm. Returns alphas (B, L, T): log-sum of all prefixes ending in each tag at each
        position; at padded positions the alpha of the last real position is carried along."""
        alpha = self.start_transitions + emissions[:, 0]
        alphas = [alpha]
        for step_emissions, step_mask in zip(emissions[:, 1:].unbind(1), mask[:, 1:, None].unbind(1)):
            step = torch.logsumexp(alpha.unsqueeze(2) + self.transitions, dim=1) + step_emissions
            alpha = torch.where(step_mask, step, alpha)
            alphas.append(alpha)
        return torch.stack(alphas, dim=1)

    def log_partition(self, emissions: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """log Z for every sequence, (B,); 0 for an empty sequence."""
        emissions, mask = self._check(emissions, mask)
        if emissions.size(1) == 0:
            return emissions.new_zeros(emissions.size(0))
        final_alpha = self._forward_scores(emissions, mask)[:, -1]
        log_z = torch.logsumexp(final_alpha + self.end_transitions, dim=1)
        return torch.where(mask[:, 0], log_z, torch.zeros_like(log_z))

    def sequence_score(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Unnormalised score of the given tag paths (Eq. 5), (B,); tags at padded positions are ignored."""
        emissions, mask = self._check(emissions, mask)
        if emissions.size(1) == 0:
            return emissions.new_zeros(emissions.size(0))
        if tags.shape != emissions.shape[:2]:
            raise ValueError(f"LinearChainCRF: tags shape {tuple(tags.shape)} does not match emissions {tuple(emissions.shape[:2])}.")
        tags = torch.where(mask, tags, torch.zeros_like(tags))
        if bool(((tags < 0) | (tags >= self.num_tags)).any()):
            raise ValueError(f"LinearChainCRF: tags at real positions must lie in [0, {self.num_tags}).")
        weights = mask.to(emissions.dtype)
        emission_scores = emissions.gather(2, tags.unsqueeze(2)).squeeze(2)
        score = (emission_scores * weights).sum(1) + self.start_transitions[tags[:, 0]]
        transition_scores = self.transitions[tags[:, :-1], tags[:, 1:]]
        score = score + (transition_scores * weights[:, 1:]).sum(1)
        last_index = (mask.sum(1) - 1).clamp(min=0)
        last_tags = tags.gather(1, last_index.unsqueeze(1)).squeeze(1)
        score = score + self.end_transitions[last_tags]
        return torch.where(mask[:, 0], score, torch.zeros_like(score))

    def log_likelihood(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """log P(tags | emissions) per sequence (Eq. 4), (B,); 0 for an empty sequence.

        Args:
            emissions: (B, L, T) emission scores E.
            tags: (B, L) gold tag ids.
            mask: (B, L) True on real positions.
        """
        return self.sequence_score(emissions, tags, mask) - self.log_partition(emissions, mask)

    def marginals(self, emissions: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Per-position tag probabilities P(y_i = t | emissions) by forward-backward, (B, L, T); rows sum to 1 at
        real positions and are 0 at padded ones."""
        emissions, mask = self._check(emissions, mask)
        if emissions.size(1) == 0:
            return torch.zeros_like(emissions)
        alphas = self._forward_scores(emissions, mask)
        end = beta = self.end_transitions.expand(emissions.size(0), -1)
        betas = [beta]
        for step_emissions, step_mask in zip(reversed(emissions[:, 1:].unbind(1)), reversed(mask[:, 1:, None].unbind(1))):
            step = torch.logsumexp(self.transitions + (step_emissions + beta).unsqueeze(1), dim=2)
            beta = torch.where(step_mask, step, end)
            betas.append(beta)
        betas = torch.stack(betas[::-1], dim=1)
        log_z = torch.logsumexp(alphas[:, -1] + self.end_transitions, dim=1)
        probabilities = torch.exp(alphas + betas - log_z[:, None, None])
        return probabilities * mask.unsqueeze(2).to(probabilities.dtype)

    def decode(self, emissions: torch.Tensor, mask: torch.Tensor | None = None, pad_tag: int = -100) -> torch.Tensor:
        """Viterbi decoding: the highest-scoring tag path, (B, L) long on the emissions' device, `pad_tag` at padded
        positions.

        The scan runs on the host in NumPy (`viterbi_paths`): it is a chain of small steps on (T, T, 2B) scores whose
        cost is the overhead of each array operation, lower in NumPy than in torch; copying the (B, L, T) emissions
        costs little next to it."""
        emissions, mask = self._check(emissions, mask)
        if emissions.size(1) == 0:
            return torch.full(emissions.shape[:2], pad_tag, dtype=torch.long, device=emissions.device)
        dtype = torch.promote_types(emissions.dtype, self.transitions.dtype)

        def host(tensor: torch.Tensor) -> np.ndarray:
            return tensor.detach().to("cpu", dtype if tensor.is_floating_point() else tensor.dtype).numpy()

        tags = viterbi_paths(
            host(emissions), host(mask), host(self.transitions), host(self.start_transitions), host(self.end_transitions), pad_tag
        )
        return torch.from_numpy(tags).to(emissions.device)


def viterbi_paths(
    emissions: np.ndarray, mask: np.ndarray, transitions: np.ndarray, start: np.ndarray, end: np.ndarray, pad_tag: int
) -> np.ndarray:
    """Best tag paths of a batch (Viterbi: the paths maximising score(x, y) of Eq. 5), scanned from both ends at once.

    Each sequence of n real positions is split at m = n // 2: a forward lane runs the Viterbi recursion from the first
    position up to m (max over the previous tag), a backward lane runs it from the last position down to m (max over
    the next tag, end scores included). The 2B lanes share every array operation, so the scan takes L // 2 steps
    instead of L - 1. The best tag at m maximises the sum of both lanes' scores there, and each lane's backtrack
    recovers its half of the path. Sequences of different lengths share the scan: a lane that has taken its own
    steps scans on over zero emissions, its score at m is read at the step where it got there, and its backtrack
    starts from that step.

    Args:
        emissions: (B, L, T) float emission scores E.
        mask: (B, L) bool, True on real positions, left-aligned.
        transitions: (T, T) [from, to]; start, end: (T,).
        pad_tag: value written at padded positions.

    Returns:
        (B, L) integer tags.
    """
    batch_size, length, num_tags = emissions.shape
    num_lanes, num_steps = 2 * batch_size, length // 2
    lanes = np.arange(num_lanes)
    lengths = np.add.reduce(mask, axis=1, dtype=np.intp)
    meet = lengths // 2
    steps_taken = np.concatenate([meet, np.maximum(lengths - 1 - meet, 0)])  # (2B,): forward lanes, then backward
    step = np.arange(num_steps + 1)[:, None]
    # Emission read by each lane at each step, (K+1, T, 2B): forward lanes read position k, backward lanes n-1-k;
    # zero once a lane is past the meeting position, so that whatever padding holds cannot reach the scores.
    emitted = np.empty((num_steps + 1, num_tags, num_lanes), dtype=emissions.dtype)
    emitted[:, :, :batch_size] = emissions[:, : num_steps + 1].transpose(1, 2, 0)
    backward_rows = np.maximum(lengths - 1 - step, 0) + np.arange(batch_size) * length
    emitted[:, :, batch_size:] = emissions.reshape(-1, num_tags).take(backward_rows, axis=0).transpose(0, 2, 1)
    np.copyto(emitted, 0, where=(step > steps_taken)[:, None, :])
    # lane_transitions[a, c, lane]: score of reduced tag a next to kept tag c. Forward lanes reduce over the previous
    # tag (transitions[a, c]), backward lanes over the next one (transitions[c, a]).
    lane_transitions = np.empty((num_tags, num_tags, num_lanes), dtype=emissions.dtype)
    lane_transitions[..., :batch_size] = transitions[:, :, None]
    lane_transitions[..., batch_size:] = transitions.T[:, :, None]
    # history[k]: a lane's best scores before reading its k-th emission; before[k] = history[k] + emitted[k].
    history = np.empty((num_steps + 1, num_tags, num_lanes), dtype=emissions.dtype)
    history[0, :, :batch_size] = start[:, None]
    history[0, :, batch_size:] = end[:, None]
    before = np.empty_like(history)
    candidates = np.empty_like(lane_transitions)
    for k in range(num_steps):
        np.add(history[k], emitted[k], out=before[k])
        np.add(before[k, :, None, :], lane_transitions, out=candidates)
        np.maximum.reduce(candidates, axis=0, out=history[k + 1])
    np.add(history[num_steps], emitted[num_steps], out=before[num_steps])
    # At the meeting position m: forward score (emission of m included) plus backward score (positions after m).
    at_meet = before[meet, :, lanes[:batch_size]] + history[steps_taken[batch_size:], :, lanes[batch_size:]]  # (B, T)
    found = np.empty((num_steps + 1, num_lanes), dtype=np.intp)
    found[num_steps, :batch_size] = found[num_steps, batch_size:] = at_meet.argmax(axis=1)
    # Backtrack: row lane * T + c of by_kept_tag holds the scores over the reduced tag next to kept tag c; a lane past
    # its own steps reads an identity row (0 at the kept tag, -inf elsewhere), which keeps its tag.
    by_kept_tag = np.empty(((num_lanes + 1) * num_tags, num_tags), dtype=emissions.dtype)
    by_kept_tag[: batch_size * num_tags].reshape(batch_size, num_tags, num_tags)[:] = transitions.T
    by_kept_tag[batch_size * num_tags : -num_tags].reshape(batch_size, num_tags, num_tags)[:] = transitions
    identity = by_kept_tag[-num_tags:]
    identity[:] = -np.inf
    identity.reshape(-1)[:: num_tags + 1] = 0
    row_base = np.where(step[:-1] < steps_taken, lanes * num_tags, num_lanes * num_tags)
    tags = found[num_steps]
    for k in range(num_steps - 1, -1, -1):
        (before[k].T + by_kept_tag.take(row_base[k] + tags, axis=0)).argmax(axis=1, out=found[k])
        tags = found[k]
    # found[k, b] is the tag at position k (k <= m); found[k, B + b] the tag at position n - 1 - k (k <= n - 1 - m).
    place = np.arange(length) * num_lanes
    source = np.where(
        place <= (meet * num_lanes)[:, None],
        place + lanes[:batch_size, None],
        ((lengths - 1) * num_lanes + lanes[batch_size:])[:, None] - place,
    )
    return np.where(mask, found.take(source, mode="clip"), pad_tag)

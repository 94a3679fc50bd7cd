"""Linear-chain conditional random field (Lafferty et al., 2001), batch-first and vectorised over the batch.

Scores follow Eq. 4-5 of the UMT paper: score(x, y) = start[y_1] + sum_i E[i, y_i] + sum_i T[y_i, y_{i+1}] + end[y_n].
Every computation loops over positions only (the scan a chain needs); the batch and the tag dimension are
tensor operations. Masks are (B, L) booleans, True on real positions, left-aligned (a sequence's real
positions come first); a sequence may be empty (all False).
"""

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
        if mask.size(1) > 1 and bool((mask[:, 1:] & ~mask[:, :-1]).any()):
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
        """Viterbi decoding: the highest-scoring tag path, (B, L) long, `pad_tag` at padded positions."""
        emissions, mask = self._check(emissions, mask)
        batch_size, length, _ = emissions.shape
        if length == 0:
            return torch.full((batch_size, 0), pad_tag, dtype=torch.long, device=emissions.device)
        # Transition plus emission score of every step, (L-1, B, to, from): contiguous, so each step's max runs over
        # the last dimension. The scan runs past a sequence's end; its best last tag is taken at its last real
        # position, and its backpointers past that point to the same tag, which carries that tag back unchanged.
        step_scores = emissions[:, 1:].transpose(0, 1).contiguous().unsqueeze(3) + self.transitions.t().contiguous()
        score = self.start_transitions + emissions[:, 0]
        scores, backpointers = [score], []
        for step in step_scores.unbind(0):
            score, best_previous = (score.unsqueeze(1) + step).max(dim=2)
            scores.append(score)
            backpointers.append(best_previous)
        last_index = (mask.sum(1) - 1).clamp(min=0)
        last_scores = torch.stack(scores)[last_index, torch.arange(batch_size, device=emissions.device)]
        best_last = (last_scores + self.end_transitions).argmax(dim=1, keepdim=True)
        path = [best_last]
        if backpointers:
            identity = torch.arange(self.num_tags, device=emissions.device).expand(batch_size, -1)
            backpointers = torch.where(mask.t()[1:, :, None], torch.stack(backpointers), identity)
            for best_previous in reversed(backpointers.unbind(0)):
                best_last = best_previous.gather(1, best_last)
                path.append(best_last)
        tags = torch.cat(path[::-1], dim=1)
        return torch.where(mask, tags, torch.full_like(tags, pad_tag))

"""The CRF against brute-force enumeration of every tag sequence."""

import itertools

import pytest
import torch

from modeling_umt import LinearChainCRF


def random_crf(num_tags: int, seed: int) -> LinearChainCRF:
    torch.manual_seed(seed)
    crf = LinearChainCRF(num_tags).double()
    for parameter in crf.parameters():
        torch.nn.init.normal_(parameter)
    return crf


def brute_force(crf: LinearChainCRF, emissions: torch.Tensor, length: int):
    """Scores of every tag path of one sequence (L, T) cut to `length`: (paths, scores)."""
    paths = list(itertools.product(range(crf.num_tags), repeat=length))
    scores = []
    for path in paths:
        score = crf.start_transitions[path[0]] + crf.end_transitions[path[-1]]
        score = score + sum(emissions[i, tag] for i, tag in enumerate(path))
        score = score + sum(crf.transitions[a, b] for a, b in zip(path, path[1:]))
        scores.append(score)
    return paths, torch.stack(scores)


@pytest.fixture
def mixed_batch():
    """Five sequences of lengths 4, 1, 3, 4, 2 over 3 tags, padded to 4."""
    crf = random_crf(3, seed=0)
    lengths = torch.tensor([4, 1, 3, 4, 2])
    emissions = torch.randn(len(lengths), 4, 3, dtype=torch.double)
    mask = torch.arange(4)[None, :] < lengths[:, None]
    tags = torch.randint(0, 3, (len(lengths), 4))
    return crf, emissions, mask, tags, lengths


def test_log_likelihood_equals_enumeration(mixed_batch):
    crf, emissions, mask, tags, lengths = mixed_batch
    log_likelihood = crf.log_likelihood(emissions, tags, mask)
    for row, length in enumerate(lengths.tolist()):
        paths, scores = brute_force(crf, emissions[row], length)
        gold = scores[paths.index(tuple(tags[row, :length].tolist()))]
        torch.testing.assert_close(log_likelihood[row], gold - torch.logsumexp(scores, 0))


def test_viterbi_equals_enumeration(mixed_batch):
    crf, emissions, mask, _, lengths = mixed_batch
    decoded = crf.decode(emissions, mask)
    for row, length in enumerate(lengths.tolist()):
        paths, scores = brute_force(crf, emissions[row], length)
        assert decoded[row, :length].tolist() == list(paths[int(scores.argmax())])
        assert (decoded[row, length:] == -100).all()


@pytest.mark.parametrize("padded_length", [1, 2, 5, 6])
def test_viterbi_equals_enumeration_at_every_length(padded_length):
    """Odd and even lengths put the meeting point of the forward and backward scans at every place."""
    crf = random_crf(3, seed=padded_length)
    lengths = torch.arange(padded_length, -1, -1)
    emissions = torch.randn(len(lengths), padded_length, 3, dtype=torch.double)
    mask = torch.arange(padded_length)[None, :] < lengths[:, None]
    decoded = crf.decode(emissions, mask)
    assert decoded.dtype == torch.long and decoded.shape == mask.shape
    for row, length in enumerate(lengths.tolist()):
        if length:
            paths, scores = brute_force(crf, emissions[row], length)
            assert decoded[row, :length].tolist() == list(paths[int(scores.argmax())])
        assert (decoded[row, length:] == -100).all()


def test_viterbi_ignores_what_padding_holds(mixed_batch):
    crf, emissions, mask, _, _ = mixed_batch
    expected = crf.decode(emissions, mask)
    for filler in (float("nan"), float("-inf"), 1e30):
        assert torch.equal(crf.decode(emissions.masked_fill(~mask[:, :, None], filler), mask), expected)


def test_viterbi_path_scores_the_maximum_on_long_batches():
    """On longer sequences (no enumeration possible) the decoded path scores at least as much as the best of many
    perturbed paths, and equals a per-sequence decode of each sequence alone."""
    crf = random_crf(5, seed=3)
    lengths = torch.tensor([40, 1, 17, 33, 0, 40, 2])
    emissions = torch.randn(len(lengths), 40, 5, dtype=torch.double)
    mask = torch.arange(40)[None, :] < lengths[:, None]
    decoded = crf.decode(emissions, mask)
    for row, length in enumerate(lengths.tolist()):
        alone = crf.decode(emissions[row : row + 1, :length])
        assert decoded[row, :length].tolist() == alone[0].tolist()
    best = crf.sequence_score(emissions, decoded.clamp(min=0), mask)
    for _ in range(200):
        flipped = torch.where(torch.rand(mask.shape) < 0.1, torch.randint(0, 5, mask.shape), decoded.clamp(min=0))
        assert (crf.sequence_score(emissions, flipped, mask) <= best + 1e-9).all()


def test_marginals_equal_enumeration(mixed_batch):
    crf, emissions, mask, _, lengths = mixed_batch
    marginals = crf.marginals(emissions, mask)
    for row, length in enumerate(lengths.tolist()):
        paths, scores = brute_force(crf, emissions[row], length)
        probabilities = torch.softmax(scores, 0)
        expected = torch.zeros(length, crf.num_tags, dtype=torch.double)
        for path, probability in zip(paths, probabilities):
            for position, tag in enumerate(path):
                expected[position, tag] += probability
        torch.testing.assert_close(marginals[row, :length], expected)
        assert (marginals[row, length:] == 0).all()


def test_empty_sequences_and_empty_batch():
    crf = random_crf(3, seed=1)
    emissions = torch.randn(2, 3, 3, dtype=torch.double)
    mask = torch.tensor([[True, True, False], [False, False, False]])
    tags = torch.zeros(2, 3, dtype=torch.long)
    log_likelihood = crf.log_likelihood(emissions, tags, mask)
    assert log_likelihood[1] == 0 and torch.isfinite(log_likelihood).all()
    assert crf.decode(emissions, mask)[1].tolist() == [-100, -100, -100]
    assert crf.marginals(emissions, mask)[1].abs().sum() == 0
    no_positions = torch.zeros(2, 0, 3, dtype=torch.double)
    assert crf.decode(no_positions).shape == (2, 0)
    assert crf.log_likelihood(no_positions, torch.zeros(2, 0, dtype=torch.long)).tolist() == [0.0, 0.0]


def test_gradients_reach_transitions_and_emissions(mixed_batch):
    crf, emissions, mask, tags, _ = mixed_batch
    emissions = emissions.clone().requires_grad_(True)
    (-crf.log_likelihood(emissions, tags, mask).sum()).backward()
    for tensor in (emissions, crf.transitions, crf.start_transitions, crf.end_transitions):
        assert tensor.grad is not None and tensor.grad.abs().sum() > 0
    # padded positions get no gradient
    assert emissions.grad[~mask].abs().sum() == 0


def test_bad_inputs_name_the_problem():
    crf = LinearChainCRF(3)
    with pytest.raises(ValueError, match="emissions must be"):
        crf.decode(torch.randn(2, 4, 5))
    with pytest.raises(ValueError, match="left-aligned"):
        crf.decode(torch.randn(1, 3, 3), torch.tensor([[True, False, True]]))
    with pytest.raises(ValueError, match=r"tags at real positions must lie in \[0, 3\)"):
        crf.log_likelihood(torch.randn(1, 2, 3), torch.tensor([[0, 7]]))


def test_half_precision_emissions_are_scored_in_float32():
    crf = random_crf(3, seed=2).float()
    emissions = torch.randn(2, 5, 3).bfloat16()
    tags = torch.randint(0, 3, (2, 5))
    log_likelihood = crf.log_likelihood(emissions, tags)
    assert log_likelihood.dtype == torch.float32
    torch.testing.assert_close(log_likelihood, crf.log_likelihood(emissions.float(), tags))
    assert crf.marginals(emissions).dtype == torch.float32
    assert torch.equal(crf.decode(emissions), crf.decode(emissions.float()))

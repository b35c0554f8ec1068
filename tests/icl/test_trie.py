"""The token trie that packs candidate moves so shared first tokens run once."""

from __future__ import annotations

import pytest

from bench.learners.icl.embedded import TokenTrie


def test_shared_prefixes_share_nodes_and_paths_spell_the_candidates() -> None:
    seqs = [[5, 7, 2], [5, 8, 2], [9, 2], [5, 7, 3]]
    trie = TokenTrie(seqs)
    assert len(trie.tokens) == 8  # 5, 7, 2, 8, 2, 9, 2, 3
    for seq, path in zip(seqs, trie.paths):
        assert [trie.tokens[n] for n in path] == seq
        assert [trie.depths[n] for n in path] == list(range(len(seq)))
        assert [trie.parents[n] for n in path] == [-1] + path[:-1]
    assert trie.paths[0][:2] == trie.paths[3][:2]
    assert trie.lineage()[trie.paths[3][2]] == trie.paths[3]
    assert trie.predicting_nodes() == sorted({n for p in trie.paths for n in p[:-1]})


def test_empty_candidate_is_refused() -> None:
    with pytest.raises(ValueError):
        TokenTrie([[1], []])

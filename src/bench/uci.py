"""`bench-uci` (python -m bench.uci): a trained agent, or any rung of the ladder, as a UCI engine on stdin/stdout.

    bench-uci checkpoint=results/mcts/<timestamp>/checkpoint.pt   # the learner named in the checkpoint
    bench-uci checkpoint=net.safetensors                          # a network exported by bench-export
    bench-uci rung=eps60                                          # a rung of the default ladder (ladder=quick ...)
    bench-uci learner=random                                      # a learner untrained (no checkpoint)

So the tools of engine testing (fastchess, cutechess-cli, GUIs, a lichess bot) can play and rate what bench
trains, and replay the ladder. Commands: `uci`, `isready`, `ucinewgame`, `position [startpos | fen F] [moves ...]`,
`go`, `stop`, `quit` (and `setoption`, `debug`, `ponderhit`, accepted and ignored).

Search limits. A player that can search (`LimitedPlayer`: mcts) honours `go nodes N` (simulations),
`go movetime MS`, its share of the clock (`wtime/btime/winc/binc/movestogo`: remaining / movestogo (30 if not
given) + 0.8 x increment, at most half the remaining time) and `go infinite`; `stop` ends its search within one
batched search step (well under 100 ms for the embedded networks) and it answers with its best move so far. It
reports `info depth score nodes nps time pv` twice a second and once at the end; the score is the search's mean
value Q for the side to move mapped to centipawns as Lc0 does (cp = 111.71 tan(1.5621 Q), lc0
src/mcts/search.cc), and `score mate N` when the search proved a mate along its principal variation. Without
a limit (`go` alone, or only `depth`) it runs its configured simulations (`learner.eval_simulations`).
Other players play as configured (a rung at its calibrated nodes and ε, rlvr's policy, an icl model, the random
mover): they take milliseconds, except a language model, and `stop` waits for their move.

The network of a checkpoint is rebuilt from the checkpoint's own saved architecture (`net_config`), never from the
current config; the search settings come from the command line (`learner.eval_simulations=...`), else from the
run's `config.yaml` beside the checkpoint, else from the learner's defaults.
"""

from __future__ import annotations

import logging
import math
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any, Callable

import chess

from bench.cli import compose_or_exit, guarded
from bench.errors import BenchError
from bench.players import LimitedPlayer, MoveResult, Player, SearchInfo, SearchLimit

log = logging.getLogger("bench.uci")

INFO_INTERVAL_S = 0.5
"""Seconds between `info` lines during a search."""
MCTS_SEARCH_KEYS = ("eval_simulations", "c_puct", "fpu", "eval_leaves_per_step")
"""Search settings of an mcts player, taken from the command line, else the run's config.yaml, else defaults."""


# ---------------------------------------------------------------------------------------------- `go` arguments
def parse_go(tokens: list[str], board: chess.Board) -> SearchLimit:
    """The search limit of a `go` command's arguments for the side to move in `board`."""
    args: dict[str, float] = {}
    for key, value in zip(tokens, tokens[1:]):
        if key in ("nodes", "movetime", "wtime", "btime", "winc", "binc", "depth", "movestogo", "mate"):
            try:
                args[key] = float(value)
            except ValueError:
                continue
    if "infinite" in tokens:
        return SearchLimit(infinite=True)
    seconds = args["movetime"] / 1000 if "movetime" in args else None
    clock, inc = ("wtime", "winc") if board.turn == chess.WHITE else ("btime", "binc")
    if seconds is None and clock in args:
        remaining = max(0.0, args[clock])
        moves_to_go = max(1.0, args.get("movestogo", 30.0))
        share = remaining / moves_to_go + args.get(inc, 0.0) * 0.8
        seconds = max(0.01, min(share, remaining / 2) / 1000)
    nodes = max(1, int(args["nodes"])) if "nodes" in args else None
    return SearchLimit(nodes=nodes, seconds=seconds)


def search_limit(tokens: list[str], board: chess.Board) -> tuple[int | None, float | None]:
    """(nodes, seconds) of a `go` command (see `parse_go`)."""
    limit = parse_go(tokens, board)
    return limit.nodes, limit.seconds


def q_to_cp(q: float) -> int:
    """Lc0's mapping of a mean value Q in [-1, 1] to centipawns (lc0 src/mcts/search.cc, `cp = 90 tan(1.5637541897 Q)`
    in older and `111.714640912 tan(1.5620688421 Q)` in current releases; the latter here)."""
    q = max(-0.999, min(0.999, q))
    return int(round(111.714640912 * math.tan(1.5620688421 * q)))


# ------------------------------------------------------------------------------------------ mcts with limits
class LimitedMcts:
    """An mcts player's search driven step by step, so node and time limits and `stop` apply between batched
    steps (each evaluates up to `eval_leaves_per_step` leaves in one forward pass)."""

    name: str

    def __init__(self, player: Any) -> None:
        self.player = player
        self.name = player.name
        self.warm_up()

    def warm_up(self) -> None:
        """One forward pass per batch size a search step can send (1 .. eval_leaves_per_step), so the first
        search's steps do not pay for measuring FLOPs (FlopCounterMode, once per batch shape) or torch's first
        call: otherwise a `stop` arriving then waits for it (seconds on a loaded machine)."""
        from bench.learners.mcts.search import SearchNode

        root = SearchNode.root(chess.Board())
        for size in range(1, max(1, int(self.player.search.cfg.leaves_per_root)) + 1):
            self.player.evaluator.evaluate([root] * size)

    def new_game(self, seed: int) -> None:
        self.player.new_game(seed)

    def play(self, board: chess.Board) -> MoveResult:
        return self.play_limited(board, SearchLimit(), threading.Event())

    def play_limited(self, board: chess.Board, limit: SearchLimit, stop: threading.Event,
                     on_info: Callable[[SearchInfo], None] | None = None) -> MoveResult:
        from bench.learners.mcts.search import SearchJob, SearchNode, history_counts

        start = time.perf_counter()
        player, search = self.player, self.player.search
        flops_before = player.evaluator.flops
        root = SearchNode.root(board)
        if not root.moves:
            raise ValueError("no legal move: the game is over")
        job = SearchJob(root, history_counts(board), 0)
        target = (None if limit.infinite else limit.nodes if limit.nodes is not None
                  else None if limit.seconds is not None else player.simulations)
        deadline = None if limit.infinite or limit.seconds is None else start + limit.seconds
        per_step = max(1, int(search.cfg.leaves_per_root))
        done, last_info = 0, start
        while not stop.is_set():
            now = time.perf_counter()
            if root.expanded and ((target is not None and done >= target) or (deadline is not None and now >= deadline)):
                break
            if root.terminal is not None or (root.expanded and root.proven is not None and not limit.infinite):
                break
            job.left = per_step if target is None else min(per_step, target - done)
            asked = job.left
            search.step([job])
            done += asked - max(job.left, 0)
            if on_info is not None and time.perf_counter() - last_info >= INFO_INTERVAL_S:
                last_info = time.perf_counter()
                on_info(self.info(root, done, last_info - start))
        seconds = time.perf_counter() - start
        if not root.expanded:  # stopped, or a drawn root (repetition, 50 moves), before any evaluation: use priors
            priors, _ = player.evaluator.evaluate([root])
            action = int(priors[0].argmax())
        else:
            action = self.choose(root, job, done)
        info = self.info(root, done, seconds, action if root.expanded else None)
        if on_info is not None:
            on_info(info)
        return MoveResult(move=root.moves[action], nodes=done, flops=player.evaluator.flops - flops_before,
                          seconds=seconds, comment=f"q={root.q():+.2f} n={done}")

    def choose(self, root: Any, job: Any, done: int) -> int:
        """The move an expanded root's search picks, as the evaluation player picks it: a proven win (a scan or the
        root's widening can prove one before any simulation), else after a `root_width` search the completed-Q
        choice, else the most visited move; the prior's favourite when no simulation ran."""
        from bench.learners.mcts.search import choose_move

        player = self.player
        widened = player.search.cfg.root_width and job.widened
        if not done and not widened and root.proven_win() is None:
            return int(root.priors.argmax())
        return choose_move(root, root.priors, widened, 0.0, player.rng, player.completed_q)

    @staticmethod
    def info(root: Any, nodes: int, seconds: float, first_action: int | None = None) -> SearchInfo:
        """The principal variation (`first_action` at the root when given, then the most visited moves, proven wins
        first) and the score of `root`: the mean value of its first move (root.q() before any simulation), or a mate
        when the search proved one along the PV."""
        pv: list[chess.Move] = []
        node = root
        first = None
        while node is not None and node.expanded and node.moves and node.visits > 0 and len(pv) < 64:
            action = first_action if node is root and first_action is not None else node.best_action()
            pv.append(node.moves[action])
            node = node.children[action]
            if first is None:
                first = node
        mate = None
        if node is not None and node.terminal == -1.0 and not node.moves and first is not None \
                and first.proven is not None:
            plies = len(pv)  # the side to move at the PV's end is mated: the opponent when the PV is odd
            mate = (plies + 1) // 2 if plies % 2 else -(plies // 2)
        q = root.q()
        if root.expanded and root.child_n.sum() > 0:
            best = first_action if first_action is not None else root.best_action()
            if root.child_n[best] > 0:
                q = float(root.child_w[best] / root.child_n[best])
        return SearchInfo(nodes=nodes, seconds=seconds, depth=len(pv), score_cp=None if mate else q_to_cp(q),
                          mate=mate, pv=tuple(pv))

    def close(self) -> None:
        self.player.close()

    def __enter__(self) -> "LimitedMcts":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------------------------- the players
def _learner_config(cfg: Any, name: str, overrides: list[str], run_config: Path | None) -> dict[str, Any]:
    """The learner's settings: the command line, else the run's saved config.yaml, else the composed defaults."""
    from omegaconf import OmegaConf

    settings = dict(OmegaConf.to_container(cfg.learner, resolve=True)) if cfg.learner.name == name else {}
    if run_config is not None and run_config.is_file():
        import yaml

        saved = (yaml.safe_load(run_config.read_text()) or {}).get("learner") or {}
        given = {o.split("=", 1)[0].lstrip("+").removeprefix("learner.") for o in overrides if "=" in o}
        settings.update({k: v for k, v in saved.items() if k not in given})
    return settings


def network_player(learner: str, net: Any, settings: dict[str, Any], name: str, seed: int) -> Player:
    """A player for an mcts or rlvr network (already built from its own saved architecture)."""
    if learner == "mcts":
        from bench.learners.mcts.config import MctsConfig
        from bench.learners.mcts.player import MctsPlayer

        d = MctsConfig()
        get = lambda key: settings.get(key, getattr(d, key))  # noqa: E731
        contempt = get("eval_contempt")
        return LimitedMcts(MctsPlayer(net, int(get("eval_simulations")), name=name, c_puct=float(get("c_puct")),
                                      fpu=float(get("fpu")), leaves_per_step=int(get("eval_leaves_per_step")),
                                      seed=seed, scan=str(get("eval_scan") or get("scan")),
                                      fpu_reduction=get("fpu_reduction"),
                                      contempt=float(get("contempt") if contempt is None else contempt),
                                      root_width=bool(get("root_width")),
                                      completed_q=(float(get("completed_q_visit")), float(get("choice_q_scale")))))
    if learner == "rlvr":
        from bench.learners.rlvr.player import PolicyPlayer
        from bench.network import forward_flops_per_position

        temperature = float((settings.get("policy") or {}).get("eval_temperature", 0.0))
        return PolicyPlayer(net, name, temperature, forward_flops_per_position(net), seed=seed)
    raise BenchError(f"a {learner} learner has no network player")


def load_player(cfg: Any, overrides: list[str] | None = None,
                state: dict[str, Any] | None = None) -> tuple[Player, Callable[[], None], str]:
    """(player, close, name) for `cfg.checkpoint` (a run checkpoint, already loaded as `state` if given, or an
    exported network), else the configured learner untrained."""
    from bench.compute import ComputeMeter
    from bench.export import is_exported, load_network, network_state
    from bench.learners import LearnerContext, learner_class
    from bench.results import load_checkpoint

    overrides = overrides or []
    seed = int(cfg.seed)
    path = Path(cfg.checkpoint) if cfg.checkpoint else None
    if path is not None and is_exported(path):
        learner, net, _ = load_network(path)
        settings = _learner_config(cfg, learner, overrides, None)
        player = network_player(learner, net, settings, f"{learner}-{path.stem}", seed)
        return player, player.close, f"{learner} {path.name}"
    if state is None and path is not None:
        state = load_checkpoint(path)
    saved = str(state.get("learner_name") or "") if state else ""
    if saved and saved != cfg.learner.name and any(o.startswith("learner=") for o in overrides):
        raise BenchError(f"checkpoint {path} is a {saved} learner; pass learner={saved}")
    if state is not None and saved in ("mcts", "rlvr"):
        from bench.network import PolicyValueNet

        learner, net_config, weights = network_state(state, str(path))
        net = PolicyValueNet(**net_config)
        net.load_state_dict(weights)
        settings = _learner_config(cfg, learner, overrides, path.parent / "config.yaml")
        player = network_player(learner, net.eval(), settings, f"{learner}-{path.parent.name}", seed)
        return player, player.close, f"{learner} {path.parent.name}"
    context = LearnerContext(meter=ComputeMeter(), seed=seed, runtime=cfg.runtime, stockfish=cfg.stockfish,
                             rungs=list(cfg.ladder.rungs), llm=cfg.get("llm"), run_dir=None, progress=False)
    learner_obj = learner_class(cfg.learner.name)(cfg.learner, context)
    if state is not None:
        learner_obj.load_state_dict(state["learner"])
    player = learner_obj.make_player()

    def close() -> None:
        player.close()
        learner_obj.close()

    return player, close, str(cfg.learner.name)


def rung_player(cfg: Any, name: str) -> tuple[Player, Callable[[], None], str]:
    """A rung of `cfg.ladder` as a player: Stockfish at the rung's calibrated settings (ε-mixed, seeded per game),
    or the random mover."""
    from bench.ladder import make_rung_player, rungs_from_config

    rungs = {r.name: r for r in rungs_from_config(cfg.ladder)}
    if name not in rungs:
        raise BenchError(f"ladder {cfg.ladder.name} has no rung {name!r}; choose one of {', '.join(rungs)}")
    player = make_rung_player(rungs[name], cfg.stockfish, seed=int(cfg.seed))
    return player, player.close, f"rung {name} ({rungs[name].describe()}, ladder {cfg.ladder.name})"


# ----------------------------------------------------------------------------------------------- the protocol
class UciServer:
    """The UCI loop over any Player: commands are read on the calling thread, searches run on another, so
    `isready` and `stop` are answered while it thinks."""

    def __init__(self, player: Player, name: str, out: IO[str] = sys.stdout, seed: int = 0) -> None:
        self.player = player
        self.name = name
        self.out = out
        self.seed = seed
        self.board = chess.Board()
        self.games = 0
        self.search: threading.Thread | None = None
        self.stop_event = threading.Event()
        self.write_lock = threading.Lock()

    def send(self, line: str) -> None:
        with self.write_lock:
            self.out.write(line + "\n")
            self.out.flush()

    def serve(self, lines: IO[str] = sys.stdin) -> None:
        for raw in lines:
            if not self.handle(raw.strip()):
                break
        self.stop()

    def handle(self, line: str) -> bool:
        """Handle one command; False on `quit`."""
        tokens = line.split()
        if not tokens:
            return True
        command = tokens[0]
        if command == "uci":
            self.send(f"id name bench {self.name}")
            self.send("id author bench")
            self.send("uciok")
        elif command == "isready":
            self.send("readyok")
        elif command == "ucinewgame":
            self.stop()
            self.games += 1
            self.player.new_game(self.seed * 1_000_003 + self.games)
        elif command == "position":
            self.stop()
            self.board = self.parse_position(tokens[1:])
        elif command == "go":
            self.stop()
            self.stop_event = threading.Event()
            self.search = threading.Thread(target=self.go, args=(tokens[1:], self.board.copy(), self.stop_event),
                                           daemon=True)
            self.search.start()
        elif command == "stop":
            self.stop()
        elif command == "quit":
            return False
        elif command in ("setoption", "debug", "ponderhit", "register"):
            pass
        else:
            self.send(f"info string unknown command: {line[:80]}")
        return True

    def parse_position(self, tokens: list[str]) -> chess.Board:
        try:
            if tokens and tokens[0] == "startpos":
                board, rest = chess.Board(), tokens[1:]
            elif tokens and tokens[0] == "fen":
                end = tokens.index("moves") if "moves" in tokens else len(tokens)
                board, rest = chess.Board(" ".join(tokens[1:end])), tokens[end:]
            else:
                raise ValueError("expected startpos or fen")
            if rest and rest[0] == "moves":
                for uci in rest[1:]:
                    board.push_uci(uci)
            return board
        except ValueError as exc:
            self.send(f"info string bad position ({exc}); keeping the previous one")
            return self.board

    def send_info(self, info: SearchInfo) -> None:
        score = f"mate {info.mate}" if info.mate is not None else f"cp {info.score_cp if info.score_cp is not None else 0}"
        nps = int(info.nodes / info.seconds) if info.seconds > 0 else 0
        pv = " pv " + " ".join(m.uci() for m in info.pv) if info.pv else ""
        self.send(f"info depth {max(1, info.depth)} score {score} nodes {info.nodes} nps {nps} "
                  f"time {int(info.seconds * 1000)}{pv}")

    def go(self, tokens: list[str], board: chess.Board, stop: threading.Event) -> None:
        try:
            if board.is_game_over(claim_draw=False) or not any(board.legal_moves):
                self.send("bestmove 0000")
                return
            limit = parse_go(tokens, board)
            if isinstance(self.player, LimitedPlayer):
                result = self.player.play_limited(board, limit, stop, self.send_info)
            else:
                result = self.player.play(board)
                self.send(f"info nodes {result.nodes} time {int(result.seconds * 1000)}")
                if limit.infinite:  # UCI: no bestmove before `stop` after `go infinite`
                    stop.wait()
            self.send(f"bestmove {result.move.uci()}")
        except Exception as exc:  # a bug must not leave the GUI waiting forever: say it, play a legal move
            log.exception("search failed")
            self.send(f"info string error: {type(exc).__name__}: {exc}"[:200])
            self.send(f"bestmove {next(iter(board.legal_moves)).uci()}")

    def stop(self) -> None:
        """Stop a running search (it answers `bestmove`) and wait for it."""
        if self.search is not None:
            self.stop_event.set()
            self.search.join()
            self.search = None


def split_rung(argv: list[str]) -> tuple[str | None, list[str]]:
    """`rung=NAME` is bench-uci's own argument; the rest are config overrides."""
    rung = next((a.split("=", 1)[1] for a in argv if a.startswith("rung=")), None)
    return rung, [a for a in argv if not a.startswith("rung=")]


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    rung, overrides = split_rung(list(sys.argv[1:] if argv is None else argv))
    checkpoint = next((o.split("=", 1)[1] for o in overrides if o.startswith("checkpoint=")), None)

    def serve() -> None:
        from bench.export import exported_learner, is_exported
        from bench.results import load_checkpoint

        state, saved = None, None
        if checkpoint and not rung:  # compose the checkpoint's learner's config, unless learner= was given
            if is_exported(checkpoint):
                saved = exported_learner(checkpoint)
            else:
                state = load_checkpoint(checkpoint)
                saved = str(state.get("learner_name") or "") or None
        given = any(o.startswith("learner=") for o in overrides)
        cfg = compose_or_exit(([f"learner={saved}"] if saved and not given else []) + overrides)
        player, close, name = rung_player(cfg, rung) if rung else load_player(cfg, overrides, state)
        try:
            UciServer(player, name, seed=int(cfg.seed)).serve()
        finally:
            close()

    guarded(serve)


if __name__ == "__main__":
    main()

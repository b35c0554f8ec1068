/* Legal move generation for standard chess, in C, for `bench.encoding`.
 *
 * python-chess generates moves in Python, which is most of the cost of a search node. This module takes a
 * python-chess `Board`'s fields as ints and returns the legal moves as `chess.Move` objects, their policy
 * indices (the 4,672-move AlphaZero index of `bench.encoding`, whose tables are passed in by `init`) and
 * whether the side to move is in check.
 *
 * The legality rules are python-chess's (`Board.generate_legal_moves`, `_is_safe`, `generate_castling_moves`
 * with `clean_castling_rights` for standard chess), and so is the order of the moves (see `legal`).
 * Bitboards: bit i is square i (a1 = 0, b1 = 1, ..., h8 = 63), as in python-chess.
 * Built with gcc or clang (uses __builtin_ctzll / __builtin_clzll / __builtin_popcountll).
 *
 * It also holds `puct_select`, the PUCT argmax of `bench.learners.mcts.search` over one node's edge arrays, read
 * through the buffer protocol (no numpy headers). It repeats numpy's double-precision operations in numpy's
 * order, so setup.py compiles this file with -ffp-contract=off: no fused multiply-add, bitwise the same scores.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <math.h>
#include <string.h>

typedef uint64_t bb_t;

#define BB(sq) ((bb_t)1 << (sq))
#define LSB(b) __builtin_ctzll(b)
#define MSB(b) (63 - __builtin_clzll(b))
#define POPCOUNT(b) __builtin_popcountll(b)
#define RANK_1 ((bb_t)0xFFu)
#define RANK_8 ((bb_t)0xFFu << 56)
/* Room for any position a FEN can set up, not only reachable ones (those have at most 218 legal moves): at most
 * 63 pieces besides the king, none with more than 27 moves (a queen; a pawn has at most 14), plus 2 castlings. */
#define MAX_MOVES 2048

enum { PAWN = 1, KNIGHT, BISHOP, ROOK, QUEEN, KING };

/* Directions as (file step, rank step); the first four increase the square index, the last four decrease it. */
static const int DIR_DF[8] = {0, 1, 1, -1, 0, -1, -1, 1};
static const int DIR_DR[8] = {1, 1, 0, 1, -1, -1, 0, -1};
/* N, NE, E, NW (positive), S, SW, W, SE (negative); rook-like: 0, 2, 4, 6; bishop-like: 1, 3, 5, 7. */

static bb_t RAYS[8][64];     /* squares from sq in a direction, sq excluded, up to the edge */
static bb_t KNIGHT_ATT[64];
static bb_t KING_ATT[64];
static bb_t PAWN_ATT[2][64]; /* [0] black pawn captures, [1] white (python-chess colour numbering) */
static bb_t BETWEEN[64][64]; /* squares strictly between two aligned squares, else 0 */
static bb_t LINE[64][64];    /* the whole line through two aligned squares (both included), else 0 */
static bb_t ROOK_EMPTY[64];  /* rook and bishop attacks on an empty board */
static bb_t BISHOP_EMPTY[64];

static int32_t PLAIN_INDEX[64][64];    /* mover's view (from, to) -> policy index, -1 if none */
static int32_t UNDER_INDEX[64][64][7]; /* mover's view (from, to, piece) -> underpromotion index */
static PyObject *MOVE_CLASS = NULL;    /* chess.Move */
static PyObject *MOVE_CACHE[6 * 64 * 64]; /* Move objects by promotion << 12 | to << 6 | from, made on first use */
static int READY = 0;

static int on_board(int f, int r) { return f >= 0 && f < 8 && r >= 0 && r < 8; }

static void build_tables(void) {
    static const int KN[8][2] = {{1, 2}, {2, 1}, {2, -1}, {1, -2}, {-1, -2}, {-2, -1}, {-2, 1}, {-1, 2}};
    for (int sq = 0; sq < 64; sq++) {
        int f = sq & 7, r = sq >> 3;
        for (int d = 0; d < 8; d++) {
            bb_t ray = 0;
            for (int k = 1; on_board(f + k * DIR_DF[d], r + k * DIR_DR[d]); k++)
                ray |= BB((r + k * DIR_DR[d]) * 8 + f + k * DIR_DF[d]);
            RAYS[d][sq] = ray;
            if (on_board(f + DIR_DF[d], r + DIR_DR[d])) KING_ATT[sq] |= BB((r + DIR_DR[d]) * 8 + f + DIR_DF[d]);
        }
        for (int k = 0; k < 8; k++)
            if (on_board(f + KN[k][0], r + KN[k][1])) KNIGHT_ATT[sq] |= BB((r + KN[k][1]) * 8 + f + KN[k][0]);
        for (int df = -1; df <= 1; df += 2) {
            if (on_board(f + df, r + 1)) PAWN_ATT[1][sq] |= BB((r + 1) * 8 + f + df);
            if (on_board(f + df, r - 1)) PAWN_ATT[0][sq] |= BB((r - 1) * 8 + f + df);
        }
        ROOK_EMPTY[sq] = RAYS[0][sq] | RAYS[2][sq] | RAYS[4][sq] | RAYS[6][sq];
        BISHOP_EMPTY[sq] = RAYS[1][sq] | RAYS[3][sq] | RAYS[5][sq] | RAYS[7][sq];
    }
    for (int a = 0; a < 64; a++)
        for (int d = 0; d < 8; d++) {
            int opposite = (d + 4) & 7;
            bb_t ray = RAYS[d][a];
            while (ray) {
                int b = LSB(ray);
                ray &= ray - 1;
                BETWEEN[a][b] = RAYS[d][a] & RAYS[opposite][b];
                LINE[a][b] = RAYS[d][a] | RAYS[opposite][a] | BB(a);
            }
        }
}

/* Slider attacks from sq given the occupancy: the first blocker along each ray ends it (blocker included). */
static inline bb_t ray_attacks(int d, int sq, bb_t occ) {
    bb_t ray = RAYS[d][sq], blockers = ray & occ;
    if (!blockers) return ray;
    return ray ^ RAYS[d][d < 4 ? LSB(blockers) : MSB(blockers)];
}

static inline bb_t rook_attacks(int sq, bb_t occ) {
    return ray_attacks(0, sq, occ) | ray_attacks(2, sq, occ) | ray_attacks(4, sq, occ) | ray_attacks(6, sq, occ);
}

static inline bb_t bishop_attacks(int sq, bb_t occ) {
    return ray_attacks(1, sq, occ) | ray_attacks(3, sq, occ) | ray_attacks(5, sq, occ) | ray_attacks(7, sq, occ);
}

/* The position, in python-chess's terms (bitboards by piece type and by colour). */
typedef struct {
    bb_t pawns, knights, bishops, rooks, queens, kings, occ_co[2], occ;
    int us; /* 1 White, 0 Black */
    int king;
    int ep; /* -1 when none */
    bb_t blockers, checkers;
    int n;
    int32_t codes[MAX_MOVES];
    int64_t indices[MAX_MOVES];
} Pos;

/* python-chess's `_attackers_mask`: pieces of `color` attacking `sq` with sliders stopped by `occ`. */
static inline bb_t attackers(const Pos *p, int color, int sq, bb_t occ) {
    bb_t rq = p->rooks | p->queens, bq = p->bishops | p->queens;
    bb_t a = (KING_ATT[sq] & p->kings) | (KNIGHT_ATT[sq] & p->knights) | (PAWN_ATT[!color][sq] & p->pawns);
    if (ROOK_EMPTY[sq] & rq) a |= rook_attacks(sq, occ) & rq;
    if (BISHOP_EMPTY[sq] & bq) a |= bishop_attacks(sq, occ) & bq;
    return a & p->occ_co[color];
}

static inline bb_t piece_attacks(const Pos *p, int sq) {
    bb_t b = BB(sq);
    if (p->knights & b) return KNIGHT_ATT[sq];
    if (p->kings & b) return KING_ATT[sq];
    if (p->bishops & b) return bishop_attacks(sq, p->occ);
    if (p->rooks & b) return rook_attacks(sq, p->occ);
    if (p->queens & b) return rook_attacks(sq, p->occ) | bishop_attacks(sq, p->occ);
    return 0;
}

static inline void emit(Pos *p, int from, int to, int promotion) {
    int f = p->us ? from : from ^ 56, t = p->us ? to : to ^ 56;
    p->codes[p->n] = from | to << 6 | promotion << 12;
    p->indices[p->n] = (promotion && promotion != QUEEN) ? UNDER_INDEX[f][t][promotion] : PLAIN_INDEX[f][t];
    p->n++;
}

static inline void emit_pawn(Pos *p, int from, int to) {
    if (BB(to) & (RANK_1 | RANK_8)) {
        emit(p, from, to, QUEEN);
        emit(p, from, to, ROOK);
        emit(p, from, to, BISHOP);
        emit(p, from, to, KNIGHT);
    } else {
        emit(p, from, to, 0);
    }
}

/* python-chess's `_is_safe` for a move that is not the king's and not en passant: a pinned piece stays on
 * the line through it and its king. */
static inline int pin_ok(const Pos *p, int from, int to) {
    return !(p->blockers & BB(from)) || (LINE[from][to] & BB(p->king));
}

/* An en passant capture is legal when the king is not attacked once both pawns have moved. */
static int ep_ok(const Pos *p, int from) {
    int captured = p->ep + (p->us ? -8 : 8);
    bb_t occ = (p->occ & ~BB(from) & ~BB(captured)) | BB(p->ep);
    bb_t them = p->occ_co[!p->us] & ~BB(captured);
    bb_t rq = (p->rooks | p->queens) & them, bq = (p->bishops | p->queens) & them;
    return !((rook_attacks(p->king, occ) & rq) || (bishop_attacks(p->king, occ) & bq) ||
             (KNIGHT_ATT[p->king] & p->knights & them) || (PAWN_ATT[p->us][p->king] & p->pawns & them));
}

/* python-chess's `generate_castling_moves` for standard chess, with `clean_castling_rights`' filter. */
static void gen_castling(Pos *p, bb_t castling_rights, bb_t to_mask) {
    bb_t backrank = p->us ? RANK_1 : RANK_8;
    int home = p->us ? 4 : 60; /* e1 / e8 */
    bb_t king = BB(p->king);
    if (p->king != home) return;
    bb_t rights = castling_rights & p->rooks & p->occ_co[p->us] & backrank & (BB(home - 4) | BB(home + 3)) & to_mask;
    while (rights) {
        int rook = MSB(rights);
        rights &= ~BB(rook);
        int a_side = rook < p->king;
        int king_to = a_side ? home - 2 : home + 2, rook_to = a_side ? home - 1 : home + 1;
        bb_t king_path = BETWEEN[p->king][king_to], rook_path = BETWEEN[rook][rook_to];
        bb_t rook_bb = BB(rook);
        if ((p->occ ^ king ^ rook_bb) & (king_path | rook_path | BB(king_to) | BB(rook_to))) continue;
        bb_t path = king_path | king, attacked = 0;
        while (path && !attacked) {
            int sq = LSB(path);
            path &= path - 1;
            attacked = attackers(p, !p->us, sq, p->occ ^ king);
        }
        if (attacked || attackers(p, !p->us, king_to, p->occ ^ king ^ rook_bb ^ BB(rook_to))) continue;
        emit(p, p->king, king_to, 0);
    }
}

/* python-chess's `generate_pseudo_legal_moves(from_mask, to_mask)`, in its order, keeping the legal moves. */
static void gen(Pos *p, bb_t from_mask, bb_t to_mask, bb_t castling_rights) {
    bb_t own = p->occ_co[p->us], them = p->occ_co[!p->us];
    bb_t pieces = own & ~p->pawns & from_mask;
    while (pieces) {
        int from = MSB(pieces);
        pieces &= ~BB(from);
        bb_t targets = piece_attacks(p, from) & ~own & to_mask;
        int is_king = from == p->king;
        while (targets) {
            int to = MSB(targets);
            targets &= ~BB(to);
            if (is_king ? !attackers(p, !p->us, to, p->occ ^ BB(from)) : pin_ok(p, from, to)) emit(p, from, to, 0);
        }
    }
    if (from_mask & BB(p->king)) gen_castling(p, castling_rights, to_mask);
    bb_t pawns = p->pawns & own & from_mask;
    if (!pawns) return;
    for (bb_t b = pawns; b;) {
        int from = MSB(b);
        b &= ~BB(from);
        bb_t targets = PAWN_ATT[p->us][from] & them & to_mask;
        while (targets) {
            int to = MSB(targets);
            targets &= ~BB(to);
            if (pin_ok(p, from, to)) emit_pawn(p, from, to);
        }
    }
    bb_t single, dbl;
    int step = p->us ? 8 : -8;
    if (p->us) {
        single = pawns << 8 & ~p->occ;
        dbl = single << 8 & ~p->occ & (RANK_1 << 24);
    } else {
        single = pawns >> 8 & ~p->occ;
        dbl = single >> 8 & ~p->occ & (RANK_1 << 32);
    }
    single &= to_mask;
    dbl &= to_mask;
    while (single) {
        int to = MSB(single);
        single &= ~BB(to);
        if (pin_ok(p, to - step, to)) emit_pawn(p, to - step, to);
    }
    while (dbl) {
        int to = MSB(dbl);
        dbl &= ~BB(to);
        if (pin_ok(p, to - 2 * step, to)) emit(p, to - 2 * step, to, 0);
    }
    if (p->ep > 0 && (BB(p->ep) & to_mask)) {
        /* python-chess's `generate_pseudo_legal_ep` */
        if (BB(p->ep) & p->occ) return;
        bb_t capturers = pawns & PAWN_ATT[!p->us][p->ep] & (RANK_1 << (p->us ? 32 : 24));
        while (capturers) {
            int from = MSB(capturers);
            capturers &= ~BB(from);
            if (ep_ok(p, from)) emit(p, from, p->ep, 0);
        }
    }
}

/* python-chess's `_generate_evasions`, in its order, keeping the legal moves. */
static void gen_evasions(Pos *p) {
    bb_t own = p->occ_co[p->us];
    bb_t targets = KING_ATT[p->king] & ~own;
    while (targets) {
        int to = MSB(targets);
        targets &= ~BB(to);
        if (!attackers(p, !p->us, to, p->occ ^ BB(p->king))) emit(p, p->king, to, 0);
    }
    if (POPCOUNT(p->checkers) != 1) return;
    int checker = LSB(p->checkers);
    bb_t target = BETWEEN[p->king][checker] | p->checkers;
    gen(p, ~p->kings, target, 0);
    if (p->ep > 0 && !(BB(p->ep) & target) && p->ep + (p->us ? -8 : 8) == checker && !(BB(p->ep) & p->occ)) {
        bb_t capturers = p->pawns & own & PAWN_ATT[!p->us][p->ep] & (RANK_1 << (p->us ? 32 : 24));
        while (capturers) {
            int from = MSB(capturers);
            capturers &= ~BB(from);
            if (ep_ok(p, from)) emit(p, from, p->ep, 0);
        }
    }
}

static PyObject *move_object(int code) {
    PyObject *move = MOVE_CACHE[code];
    if (move == NULL) {
        int from = code & 63, to = (code >> 6) & 63, promotion = code >> 12;
        move = promotion ? PyObject_CallFunction(MOVE_CLASS, "iii", from, to, promotion)
                         : PyObject_CallFunction(MOVE_CLASS, "ii", from, to);
        if (move == NULL) return NULL;
        MOVE_CACHE[code] = move; /* the cache keeps this reference */
    }
    Py_INCREF(move);
    return move;
}

static int as_bitboard(PyObject *obj, bb_t *out) {
    unsigned long long v = PyLong_AsUnsignedLongLong(obj);
    if (v == (unsigned long long)-1 && PyErr_Occurred()) return -1;
    *out = (bb_t)v;
    return 0;
}

PyDoc_STRVAR(legal_doc,
"legal(pawns, knights, bishops, rooks, queens, kings, occupied_white, occupied_black, turn, castling_rights,\n"
"      ep_square) -> (moves, indices, in_check) | None\n\n"
"The legal moves of a standard-chess position given by a python-chess Board's fields (ep_square may be None).\n"
"moves: a list of chess.Move (shared, cached objects: never mutate them); indices: a bytearray of their int64\n"
"policy indices (np.frombuffer(indices, np.int64)); in_check: whether the side to move is in check.\n"
"Order: python-chess's generate_legal_moves, except that out of check and without an en passant square the\n"
"moves of pieces that might be pinned and of the king come last (the order bench.encoding.legal_moves gives).\n"
"None when the position is outside what is handled here (not exactly one king for the side to move, or pawns\n"
"on the first or last rank): the caller then asks python-chess.");

static PyObject *legal(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (!READY) {
        PyErr_SetString(PyExc_RuntimeError, "bench._movegen.init() was not called");
        return NULL;
    }
    if (nargs != 11) {
        PyErr_Format(PyExc_TypeError, "legal() takes 11 arguments (%zd given)", nargs);
        return NULL;
    }
    Pos p;
    bb_t castling_rights;
    if (as_bitboard(args[0], &p.pawns) || as_bitboard(args[1], &p.knights) || as_bitboard(args[2], &p.bishops) ||
        as_bitboard(args[3], &p.rooks) || as_bitboard(args[4], &p.queens) || as_bitboard(args[5], &p.kings) ||
        as_bitboard(args[6], &p.occ_co[1]) || as_bitboard(args[7], &p.occ_co[0]) ||
        as_bitboard(args[9], &castling_rights))
        return NULL;
    int turn = PyObject_IsTrue(args[8]);
    if (turn < 0) return NULL;
    p.us = turn;
    if (args[10] == Py_None) {
        p.ep = -1;
    } else {
        long ep = PyLong_AsLong(args[10]);
        if (ep == -1 && PyErr_Occurred()) return NULL;
        p.ep = (ep >= 0 && ep < 64) ? (int)ep : -1;
    }
    p.occ = p.occ_co[0] | p.occ_co[1];
    bb_t own = p.occ_co[p.us], king_bb = p.kings & own;
    if (POPCOUNT(king_bb) != 1 || (p.pawns & (RANK_1 | RANK_8))) Py_RETURN_NONE;
    p.king = LSB(king_bb);
    p.n = 0;

    /* python-chess's `_slider_blockers`: own pieces alone between the king and an enemy slider. */
    bb_t snipers = ((ROOK_EMPTY[p.king] & (p.rooks | p.queens)) | (BISHOP_EMPTY[p.king] & (p.bishops | p.queens))) &
                   p.occ_co[!p.us];
    p.blockers = 0;
    while (snipers) {
        int s = LSB(snipers);
        snipers &= snipers - 1;
        bb_t b = BETWEEN[p.king][s] & p.occ;
        if (b && !(b & (b - 1))) p.blockers |= b;
    }
    p.blockers &= own;
    p.checkers = attackers(&p, !p.us, p.king, p.occ);

    if (p.checkers) {
        gen_evasions(&p);
    } else if (p.ep >= 0) {
        gen(&p, ~(bb_t)0, ~(bb_t)0, castling_rights);
    } else {
        bb_t risky = p.blockers | king_bb;
        gen(&p, ~risky, ~(bb_t)0, castling_rights);
        gen(&p, risky, ~(bb_t)0, castling_rights);
    }

    PyObject *moves = PyList_New(p.n);
    if (moves == NULL) return NULL;
    for (int i = 0; i < p.n; i++) {
        PyObject *move = move_object(p.codes[i]);
        if (move == NULL) {
            Py_DECREF(moves);
            return NULL;
        }
        PyList_SET_ITEM(moves, i, move);
    }
    PyObject *indices = PyByteArray_FromStringAndSize((const char *)p.indices, (Py_ssize_t)p.n * 8);
    if (indices == NULL) {
        Py_DECREF(moves);
        return NULL;
    }
    PyObject *out = PyTuple_New(3);
    if (out == NULL) {
        Py_DECREF(moves);
        Py_DECREF(indices);
        return NULL;
    }
    PyTuple_SET_ITEM(out, 0, moves);
    PyTuple_SET_ITEM(out, 1, indices);
    PyObject *check = p.checkers ? Py_True : Py_False;
    Py_INCREF(check);
    PyTuple_SET_ITEM(out, 2, check);
    return out;
}

PyDoc_STRVAR(init_doc,
"init(move_class, plain, under)\n\n"
"Gives the module chess.Move and bench.encoding's index tables as native-endian int32 bytes: plain [64, 64]\n"
"(from, to) -> index and under [64, 64, 7] (from, to, piece) -> underpromotion index, in the mover's view.");

static PyObject *init(PyObject *self, PyObject *args) {
    PyObject *move_class;
    Py_buffer plain, under;
    if (!PyArg_ParseTuple(args, "Oy*y*", &move_class, &plain, &under)) return NULL;
    if (plain.len != (Py_ssize_t)sizeof(PLAIN_INDEX) || under.len != (Py_ssize_t)sizeof(UNDER_INDEX)) {
        PyBuffer_Release(&plain);
        PyBuffer_Release(&under);
        PyErr_SetString(PyExc_ValueError, "init(): plain must hold 64*64 and under 64*64*7 int32 values");
        return NULL;
    }
    memcpy(PLAIN_INDEX, plain.buf, sizeof(PLAIN_INDEX));
    memcpy(UNDER_INDEX, under.buf, sizeof(UNDER_INDEX));
    PyBuffer_Release(&plain);
    PyBuffer_Release(&under);
    for (size_t i = 0; i < sizeof(MOVE_CACHE) / sizeof(MOVE_CACHE[0]); i++) Py_CLEAR(MOVE_CACHE[i]);
    Py_INCREF(move_class);
    Py_XSETREF(MOVE_CLASS, move_class);
    READY = 1;
    Py_RETURN_NONE;
}

/* A 1-D float64 buffer (any stride) of `len` items, else an exception; release with PyBuffer_Release. */
static int float64_view(PyObject *obj, Py_buffer *view, Py_ssize_t len, const char *name) {
    if (PyObject_GetBuffer(obj, view, PyBUF_RECORDS_RO) < 0) return -1;
    if (view->ndim != 1 || view->itemsize != 8 || view->format == NULL || strcmp(view->format, "d") != 0 ||
        (len >= 0 && view->shape[0] != len)) {
        PyErr_Format(PyExc_TypeError, "puct_select(): %s must be a 1-D float64 array%s", name,
                     len >= 0 ? " as long as child_n" : "");
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

#define AT(view, i) (*(const double *)((const char *)(view).buf + (i) * (view).strides[0]))

PyDoc_STRVAR(puct_select_doc,
"puct_select(child_n, child_w, priors, c_puct, visits, fpu) -> int\n\n"
"The PUCT argmax over one node's edges (1-D float64 arrays of the same length), bitwise numpy's\n"
"    q = child_w / np.maximum(child_n, 1.0)                                  if fpu == 0.0\n"
"    q = np.where(child_n > 0, child_w / np.maximum(child_n, 1e-9), fpu)     otherwise\n"
"    int((q + priors * ((c_puct * math.sqrt(max(visits, 1))) / (1.0 + child_n))).argmax())\n"
"as bench.learners.mcts.search computes it: the same operations in the same order, the first index of the\n"
"maximum, and the first NaN if a score is NaN (as numpy's argmax). ValueError on empty arrays.");

static PyObject *puct_select(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 6) {
        PyErr_Format(PyExc_TypeError, "puct_select() takes 6 arguments (%zd given)", nargs);
        return NULL;
    }
    double c = PyFloat_AsDouble(args[3]);
    if (c == -1.0 && PyErr_Occurred()) return NULL;
    double visits = PyFloat_AsDouble(args[4]);
    if (visits == -1.0 && PyErr_Occurred()) return NULL;
    double fpu = PyFloat_AsDouble(args[5]);
    if (fpu == -1.0 && PyErr_Occurred()) return NULL;
    Py_buffer n, w, p;
    if (float64_view(args[0], &n, -1, "child_n") < 0) return NULL;
    Py_ssize_t len = n.shape[0];
    if (float64_view(args[1], &w, len, "child_w") < 0) {
        PyBuffer_Release(&n);
        return NULL;
    }
    if (float64_view(args[2], &p, len, "priors") < 0) {
        PyBuffer_Release(&n);
        PyBuffer_Release(&w);
        return NULL;
    }
    Py_ssize_t best = -1;
    if (len > 0) {
        /* Python's max(visits, 1) keeps a NaN visits, as `<` does here; then c * math.sqrt(...). */
        double c_sqrt = c * sqrt(visits < 1.0 ? 1.0 : visits);
        double top = 0.0;
        for (Py_ssize_t i = 0; i < len; i++) {
            double ni = AT(n, i), wi = AT(w, i), q;
            if (fpu == 0.0) /* np.maximum(n, 1.0), which keeps a NaN n: so does `<` */
                q = wi / (ni < 1.0 ? 1.0 : ni);
            else
                q = ni > 0.0 ? wi / (ni < 1e-9 ? 1e-9 : ni) : fpu;
            double u = c_sqrt / (1.0 + ni);
            double score = q + AT(p, i) * u;
            if (score != score) { /* numpy's argmax stops at the first NaN */
                best = i;
                break;
            }
            if (best < 0 || score > top) {
                best = i;
                top = score;
            }
        }
    }
    PyBuffer_Release(&n);
    PyBuffer_Release(&w);
    PyBuffer_Release(&p);
    if (best < 0) {
        PyErr_SetString(PyExc_ValueError, "puct_select(): no edges (empty arrays)");
        return NULL;
    }
    return PyLong_FromSsize_t(best);
}

static PyMethodDef methods[] = {
    {"legal", (PyCFunction)(void (*)(void))legal, METH_FASTCALL, legal_doc},
    {"init", init, METH_VARARGS, init_doc},
    {"puct_select", (PyCFunction)(void (*)(void))puct_select, METH_FASTCALL, puct_select_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "bench._movegen",
    "Legal move generation for standard chess (see bench.encoding), and the PUCT argmax of bench's MCTS search.", -1,
    methods,
};

PyMODINIT_FUNC PyInit__movegen(void) {
    build_tables();
    return PyModule_Create(&module);
}

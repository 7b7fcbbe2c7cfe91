"""Explicit SIMD vectors for the register-blocked inner loops.

LLVM's loop vectoriser only vectorises innermost loops, so an accumulator that must live across
an outer reduction loop (a column of ``y = diff @ U``, a block of the scatter) goes back to memory
on every iteration, and the loop becomes load/store bound. A :class:`Vec` is an LLVM vector value
(``<8 x double>`` or ``<16 x float>``: one 512-bit register), so a handful of ``Vec`` locals are a
register-blocked micro-kernel written in plain Numba code.

Every operation marks the function it is compiled into with ``min-legal-vector-width=512`` so the
X86 back end keeps 512-bit registers even on CPUs whose tuning prefers 256-bit vectors (LLVM
carries the attribute over when it inlines). On CPUs without AVX-512 the same vectors are split
into narrower ones by the back end; results are the same.

All functions take arrays flat-indexed by an element offset (C-contiguous arrays only) and a
``like`` argument (an array or a ``Vec``) that fixes the element type and lane count.
"""
from __future__ import annotations

import llvmlite.ir as ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model

from ._jit import FASTMATH

#: Width of one vector register in bits.
BITS = 512
_FLAGS = tuple(sorted(FASTMATH))
_I32 = ir.IntType(32)


class Vec(types.Type):
    """Numba type of a SIMD vector of ``lanes`` values of ``dtype``."""

    def __init__(self, dtype: types.Float, lanes: int) -> None:
        self.dtype = dtype
        self.lanes = lanes
        super().__init__(name=f"Vec({dtype}x{lanes})")


@register_model(Vec)
class _VecModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        elem = dmm.lookup(fe_type.dtype).get_value_type()
        super().__init__(dmm, fe_type, ir.VectorType(elem, fe_type.lanes))


def lanes_of(like) -> int:
    """Lanes of ``like``: a Vec's own, or one register of an array's dtype."""
    if isinstance(like, Vec):
        return like.lanes
    return BITS // like.dtype.bitwidth


def _vec_like(like, dtype=None) -> Vec:
    return Vec(dtype if dtype is not None else like.dtype, lanes_of(like))


def _mark(builder) -> None:
    # llvmlite's attribute set only admits keyword attributes; this string attribute is
    # emitted verbatim into the function definition. Should a future llvmlite refuse it, the
    # code still compiles, with vectors split into the CPU's preferred width.
    try:
        set.add(builder.function.attributes, f'"min-legal-vector-width"="{BITS}"')
    except TypeError:
        pass


def _pointer(context, builder, arrty, arr, offset, vecty):
    data = context.make_array(arrty)(context, builder, arr).data
    ptr = cgutils.gep(builder, data, offset)
    return builder.bitcast(ptr, ir.PointerType(context.get_value_type(vecty)))


@intrinsic
def load(typingctx, arr, offset, like):
    """``arr.flat[offset : offset + lanes]`` as a Vec of ``arr``'s dtype, ``like``'s lanes."""
    vt = _vec_like(like, arr.dtype)

    def codegen(context, builder, sig, args):
        _mark(builder)
        ptr = _pointer(context, builder, sig.args[0], args[0], args[1], vt)
        return builder.load(ptr, align=arr.dtype.bitwidth // 8)
    return vt(arr, offset, like), codegen


@intrinsic
def store(typingctx, arr, offset, v):
    """``arr.flat[offset : offset + lanes] = v`` (``v`` has ``arr``'s dtype)."""
    if not isinstance(v, Vec) or v.dtype != arr.dtype:
        return None

    def codegen(context, builder, sig, args):
        _mark(builder)
        ptr = _pointer(context, builder, sig.args[0], args[0], args[1], v)
        builder.store(args[2], ptr, align=arr.dtype.bitwidth // 8)
        return context.get_dummy_value()
    return types.none(arr, offset, v), codegen


@intrinsic
def splat(typingctx, like, x):
    """A Vec shaped like ``like`` with every lane equal to ``x``."""
    vt = _vec_like(like)

    def codegen(context, builder, sig, args):
        _mark(builder)
        ty = context.get_value_type(vt)
        val = context.cast(builder, args[1], sig.args[1], vt.dtype)
        one = builder.insert_element(ir.Constant(ty, ir.Undefined), val, _I32(0))
        mask = ir.Constant(ir.VectorType(_I32, vt.lanes), [0] * vt.lanes)
        return builder.shuffle_vector(one, ir.Constant(ty, ir.Undefined), mask)
    return vt(like, x), codegen


@intrinsic
def zeros(typingctx, like):
    """A Vec of zeros shaped like ``like``."""
    vt = _vec_like(like)

    def codegen(context, builder, sig, args):
        return ir.Constant(context.get_value_type(vt), [0.0] * vt.lanes)
    return vt(like), codegen


@intrinsic
def fma(typingctx, a, b, c):
    """``a * b + c`` lane by lane (one fused multiply-add)."""
    def codegen(context, builder, sig, args):
        _mark(builder)
        return builder.fadd(builder.fmul(args[0], args[1], flags=_FLAGS), args[2],
                            flags=_FLAGS)
    return a(a, b, c), codegen


def _binary(op: str, doc: str):
    @intrinsic
    def binary(typingctx, a, b):
        def codegen(context, builder, sig, args):
            _mark(builder)
            return getattr(builder, op)(args[0], args[1], flags=_FLAGS)
        return a(a, b), codegen
    binary.__doc__ = doc
    return binary


add = _binary("fadd", "``a + b`` lane by lane.")
sub = _binary("fsub", "``a - b`` lane by lane.")
mul = _binary("fmul", "``a * b`` lane by lane.")
div = _binary("fdiv", "``a / b`` lane by lane.")


@intrinsic
def lanes_of_array(typingctx, like):
    """Number of lanes of a Vec shaped like ``like`` (a compile-time constant)."""
    n = lanes_of(like)

    def codegen(context, builder, sig, args):
        return context.get_constant(types.intp, n)
    return types.intp(like), codegen


def _declare(builder, name, vecty):
    bits = 64 if isinstance(vecty.element, ir.DoubleType) else 32
    suffix = f"v{vecty.count}f{bits}"
    fnty = ir.FunctionType(vecty, [vecty])
    return cgutils.get_or_insert_function(builder.module, fnty, f"{name}.{suffix}")


@intrinsic
def maximum(typingctx, a, b):
    """Lane-wise maximum."""
    def codegen(context, builder, sig, args):
        _mark(builder)
        bigger = builder.fcmp_ordered(">", args[0], args[1])
        return builder.select(bigger, args[0], args[1])
    return a(a, b), codegen


@intrinsic
def floor(typingctx, a):
    """Lane-wise floor."""
    def codegen(context, builder, sig, args):
        _mark(builder)
        return builder.call(_declare(builder, "llvm.floor", args[0].type), [args[0]])
    return a(a), codegen


@intrinsic
def where_greater(typingctx, a, b, x, y):
    """``x`` where ``a > b``, else ``y``, lane by lane."""
    def codegen(context, builder, sig, args):
        _mark(builder)
        return builder.select(builder.fcmp_ordered(">", args[0], args[1]), args[2], args[3])
    return x(a, b, x, y), codegen


def _float64_only(v):
    return isinstance(v, Vec) and v.dtype == types.float64


def _int64s(lanes: int, value: int):
    return ir.Constant(ir.VectorType(ir.IntType(64), lanes), [value] * lanes)


@intrinsic
def scale_by_pow2(typingctx, p, k):
    """``p * 2**k`` for integral float64 ``k`` in the normal exponent range."""
    if not _float64_only(p):
        return None

    def codegen(context, builder, sig, args):
        _mark(builder)
        ki = builder.fptosi(args[1], ir.VectorType(ir.IntType(64), p.lanes))
        bits = builder.shl(builder.add(ki, _int64s(p.lanes, 1023)), _int64s(p.lanes, 52))
        return builder.fmul(args[0], builder.bitcast(bits, args[0].type), flags=_FLAGS)
    return p(p, k), codegen


@intrinsic
def split_exponent(typingctx, v):
    """``(e, m)`` with ``v = m * 2**e``, ``m`` in ``[1, 2)``, for positive normal float64."""
    if not _float64_only(v):
        return None

    def codegen(context, builder, sig, args):
        _mark(builder)
        bits = builder.bitcast(args[0], ir.VectorType(ir.IntType(64), v.lanes))
        e = builder.sub(builder.lshr(bits, _int64s(v.lanes, 52)), _int64s(v.lanes, 1023))
        mbits = builder.or_(builder.and_(bits, _int64s(v.lanes, (1 << 52) - 1)),
                            _int64s(v.lanes, 1023 << 52))
        return cgutils.pack_array(
            builder, [builder.sitofp(e, args[0].type), builder.bitcast(mbits, args[0].type)])
    return types.UniTuple(v, 2)(v), codegen


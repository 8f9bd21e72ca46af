;; The parameter server's optimizer updates as WebAssembly SIMD kernels, the sum of
;; squares the gradient gate takes a push's norm from, and the copy bench ps-apply
;; measures them against.
;;
;; Why: V8 does not vectorise JavaScript loops, and a scalar square root and division
;; per element cap Adagrad and Adam at ~1 GB/s of gradient. Four lanes at a time these
;; run 7-9x faster on one core (bench ps-apply). The JavaScript loops in ../sgd.ts, ../adagrad.ts,
;; ../momentum.ts and ../adam.ts remain the reference these kernels are tested against.
;;
;; Every kernel has one signature, so the apply pool can dispatch by index:
;;   (p g a b: byte offsets of the parameter, gradient and up to two slot arrays,
;;    n: elements, c0..c5: the optimizer's per-apply constants, computed in float64)
;; and returns a float64: an update changes elements [0, n) in place and returns 0; a
;; reduction (sumsq) reads them and returns its sum, which the pool adds over chunks.
;; Offsets must be 16-byte aligned (the kernel arena guarantees it); any n works, the
;; last n mod 4 elements take the scalar loop. Updates are float32 throughout, as in tfjs.
;;
;; Rebuild ps-kernels.wasm after an edit: npm run build:kernels (a test fails if the two differ).
(module
  ;; Shared, so the apply pool's helper threads update the same parameters.
  (memory (import "env" "memory") 1 65536 shared)

  ;; sgd: p <- p - lr*g                                  (c0 = lr)
  (func (export "sgd") (param $p i32) (param $g i32) (param $a i32) (param $b i32) (param $n i32)
      (param $lr f32) (param $c1 f32) (param $c2 f32) (param $c3 f32) (param $c4 f32) (param $c5 f32) (result f64)
    (local $end i32) (local $lr4 v128)
    (local.set $lr4 (f32x4.splat (local.get $lr)))
    (local.set $end (i32.add (local.get $p) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $vdone (loop $v
      (br_if $vdone (i32.ge_u (local.get $p) (local.get $end)))
      (v128.store (local.get $p)
        (f32x4.sub (v128.load (local.get $p)) (f32x4.mul (local.get $lr4) (v128.load (local.get $g)))))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (local.set $g (i32.add (local.get $g) (i32.const 16)))
      (br $v)))
    (local.set $end (i32.add (local.get $end) (i32.shl (i32.and (local.get $n) (i32.const 3)) (i32.const 2))))
    (block $sdone (loop $s
      (br_if $sdone (i32.ge_u (local.get $p) (local.get $end)))
      (f32.store (local.get $p)
        (f32.sub (f32.load (local.get $p)) (f32.mul (local.get $lr) (f32.load (local.get $g)))))
      (local.set $p (i32.add (local.get $p) (i32.const 4)))
      (local.set $g (i32.add (local.get $g) (i32.const 4)))
      (br $s)))
    (f64.const 0))

  ;; momentum: a <- m*a + g; p <- p - lr*a               (c0 = lr, c1 = m)
  (func (export "momentum") (param $p i32) (param $g i32) (param $a i32) (param $b i32) (param $n i32)
      (param $lr f32) (param $m f32) (param $c2 f32) (param $c3 f32) (param $c4 f32) (param $c5 f32) (result f64)
    (local $end i32) (local $lr4 v128) (local $m4 v128) (local $acc4 v128) (local $acc f32)
    (local.set $lr4 (f32x4.splat (local.get $lr)))
    (local.set $m4 (f32x4.splat (local.get $m)))
    (local.set $end (i32.add (local.get $p) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $vdone (loop $v
      (br_if $vdone (i32.ge_u (local.get $p) (local.get $end)))
      (local.set $acc4 (f32x4.add (f32x4.mul (local.get $m4) (v128.load (local.get $a))) (v128.load (local.get $g))))
      (v128.store (local.get $a) (local.get $acc4))
      (v128.store (local.get $p) (f32x4.sub (v128.load (local.get $p)) (f32x4.mul (local.get $lr4) (local.get $acc4))))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (local.set $g (i32.add (local.get $g) (i32.const 16)))
      (local.set $a (i32.add (local.get $a) (i32.const 16)))
      (br $v)))
    (local.set $end (i32.add (local.get $end) (i32.shl (i32.and (local.get $n) (i32.const 3)) (i32.const 2))))
    (block $sdone (loop $s
      (br_if $sdone (i32.ge_u (local.get $p) (local.get $end)))
      (local.set $acc (f32.add (f32.mul (local.get $m) (f32.load (local.get $a))) (f32.load (local.get $g))))
      (f32.store (local.get $a) (local.get $acc))
      (f32.store (local.get $p) (f32.sub (f32.load (local.get $p)) (f32.mul (local.get $lr) (local.get $acc))))
      (local.set $p (i32.add (local.get $p) (i32.const 4)))
      (local.set $g (i32.add (local.get $g) (i32.const 4)))
      (local.set $a (i32.add (local.get $a) (i32.const 4)))
      (br $s)))
    (f64.const 0))

  ;; nesterov: a <- m*a + g; p <- p - lr*(g + m*a)       (c0 = lr, c1 = m)
  (func (export "nesterov") (param $p i32) (param $g i32) (param $a i32) (param $b i32) (param $n i32)
      (param $lr f32) (param $m f32) (param $c2 f32) (param $c3 f32) (param $c4 f32) (param $c5 f32) (result f64)
    (local $end i32) (local $lr4 v128) (local $m4 v128) (local $g4 v128) (local $acc4 v128) (local $gs f32) (local $acc f32)
    (local.set $lr4 (f32x4.splat (local.get $lr)))
    (local.set $m4 (f32x4.splat (local.get $m)))
    (local.set $end (i32.add (local.get $p) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $vdone (loop $v
      (br_if $vdone (i32.ge_u (local.get $p) (local.get $end)))
      (local.set $g4 (v128.load (local.get $g)))
      (local.set $acc4 (f32x4.add (f32x4.mul (local.get $m4) (v128.load (local.get $a))) (local.get $g4)))
      (v128.store (local.get $a) (local.get $acc4))
      (v128.store (local.get $p)
        (f32x4.sub (v128.load (local.get $p))
          (f32x4.mul (local.get $lr4) (f32x4.add (local.get $g4) (f32x4.mul (local.get $m4) (local.get $acc4))))))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (local.set $g (i32.add (local.get $g) (i32.const 16)))
      (local.set $a (i32.add (local.get $a) (i32.const 16)))
      (br $v)))
    (local.set $end (i32.add (local.get $end) (i32.shl (i32.and (local.get $n) (i32.const 3)) (i32.const 2))))
    (block $sdone (loop $s
      (br_if $sdone (i32.ge_u (local.get $p) (local.get $end)))
      (local.set $gs (f32.load (local.get $g)))
      (local.set $acc (f32.add (f32.mul (local.get $m) (f32.load (local.get $a))) (local.get $gs)))
      (f32.store (local.get $a) (local.get $acc))
      (f32.store (local.get $p)
        (f32.sub (f32.load (local.get $p))
          (f32.mul (local.get $lr) (f32.add (local.get $gs) (f32.mul (local.get $m) (local.get $acc))))))
      (local.set $p (i32.add (local.get $p) (i32.const 4)))
      (local.set $g (i32.add (local.get $g) (i32.const 4)))
      (local.set $a (i32.add (local.get $a) (i32.const 4)))
      (br $s)))
    (f64.const 0))

  ;; adagrad: a <- a + g*g; p <- p - lr*g / sqrt(a + eps)     (c0 = lr, c1 = eps)
  ;; A zero gradient leaves p and a bit-for-bit unchanged (delta pulls rely on it).
  (func (export "adagrad") (param $p i32) (param $g i32) (param $a i32) (param $b i32) (param $n i32)
      (param $lr f32) (param $eps f32) (param $c2 f32) (param $c3 f32) (param $c4 f32) (param $c5 f32) (result f64)
    (local $end i32) (local $lr4 v128) (local $eps4 v128) (local $g4 v128) (local $s4 v128) (local $gs f32) (local $s f32)
    (local.set $lr4 (f32x4.splat (local.get $lr)))
    (local.set $eps4 (f32x4.splat (local.get $eps)))
    (local.set $end (i32.add (local.get $p) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $vdone (loop $v
      (br_if $vdone (i32.ge_u (local.get $p) (local.get $end)))
      (local.set $g4 (v128.load (local.get $g)))
      (local.set $s4 (f32x4.add (v128.load (local.get $a)) (f32x4.mul (local.get $g4) (local.get $g4))))
      (v128.store (local.get $a) (local.get $s4))
      (v128.store (local.get $p)
        (f32x4.sub (v128.load (local.get $p))
          (f32x4.div (f32x4.mul (local.get $lr4) (local.get $g4)) (f32x4.sqrt (f32x4.add (local.get $s4) (local.get $eps4))))))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (local.set $g (i32.add (local.get $g) (i32.const 16)))
      (local.set $a (i32.add (local.get $a) (i32.const 16)))
      (br $v)))
    (local.set $end (i32.add (local.get $end) (i32.shl (i32.and (local.get $n) (i32.const 3)) (i32.const 2))))
    (block $sdone (loop $sl
      (br_if $sdone (i32.ge_u (local.get $p) (local.get $end)))
      (local.set $gs (f32.load (local.get $g)))
      (local.set $s (f32.add (f32.load (local.get $a)) (f32.mul (local.get $gs) (local.get $gs))))
      (f32.store (local.get $a) (local.get $s))
      (f32.store (local.get $p)
        (f32.sub (f32.load (local.get $p))
          (f32.div (f32.mul (local.get $lr) (local.get $gs)) (f32.sqrt (f32.add (local.get $s) (local.get $eps))))))
      (local.set $p (i32.add (local.get $p) (i32.const 4)))
      (local.set $g (i32.add (local.get $g) (i32.const 4)))
      (local.set $a (i32.add (local.get $a) (i32.const 4)))
      (br $sl)))
    (f64.const 0))

  ;; adam: a <- b1*a + (1-b1)*g; b <- b2*b + (1-b2)*g*g; p <- p - step*a / (sqrt(b) + eps)
  ;; with the bias corrections folded into step and eps (Kingma & Ba 2015, end of section 2):
  ;; (c0 = step = lr*sqrt(1 - b2^t)/(1 - b1^t); c1 = eps = epsilon*sqrt(1 - b2^t); c2 = b1; c3 = b2;
  ;;  c4 = 1 - b1, c5 = 1 - b2: from float64, as tfjs has them; 1 - f32(0.999) is 1.3e-5 off)
  (func (export "adam") (param $p i32) (param $g i32) (param $a i32) (param $b i32) (param $n i32)
      (param $step f32) (param $eps f32) (param $b1 f32) (param $b2 f32) (param $o1 f32) (param $o2 f32) (result f64)
    (local $end i32) (local $gs f32) (local $ms f32) (local $vs f32)
    (local $step4 v128) (local $b14 v128) (local $b24 v128) (local $eps4 v128)
    (local $o14 v128) (local $o24 v128) (local $g4 v128) (local $m4 v128) (local $v4 v128)
    (local.set $step4 (f32x4.splat (local.get $step)))
    (local.set $b14 (f32x4.splat (local.get $b1)))
    (local.set $b24 (f32x4.splat (local.get $b2)))
    (local.set $eps4 (f32x4.splat (local.get $eps)))
    (local.set $o14 (f32x4.splat (local.get $o1)))
    (local.set $o24 (f32x4.splat (local.get $o2)))
    (local.set $end (i32.add (local.get $p) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $vdone (loop $v
      (br_if $vdone (i32.ge_u (local.get $p) (local.get $end)))
      (local.set $g4 (v128.load (local.get $g)))
      (local.set $m4 (f32x4.add (f32x4.mul (local.get $b14) (v128.load (local.get $a))) (f32x4.mul (local.get $o14) (local.get $g4))))
      (local.set $v4 (f32x4.add (f32x4.mul (local.get $b24) (v128.load (local.get $b)))
                                (f32x4.mul (local.get $o24) (f32x4.mul (local.get $g4) (local.get $g4)))))
      (v128.store (local.get $a) (local.get $m4))
      (v128.store (local.get $b) (local.get $v4))
      (v128.store (local.get $p)
        (f32x4.sub (v128.load (local.get $p))
          (f32x4.div (f32x4.mul (local.get $step4) (local.get $m4))
                     (f32x4.add (f32x4.sqrt (local.get $v4)) (local.get $eps4)))))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (local.set $g (i32.add (local.get $g) (i32.const 16)))
      (local.set $a (i32.add (local.get $a) (i32.const 16)))
      (local.set $b (i32.add (local.get $b) (i32.const 16)))
      (br $v)))
    (local.set $end (i32.add (local.get $end) (i32.shl (i32.and (local.get $n) (i32.const 3)) (i32.const 2))))
    (block $sdone (loop $s
      (br_if $sdone (i32.ge_u (local.get $p) (local.get $end)))
      (local.set $gs (f32.load (local.get $g)))
      (local.set $ms (f32.add (f32.mul (local.get $b1) (f32.load (local.get $a))) (f32.mul (local.get $o1) (local.get $gs))))
      (local.set $vs (f32.add (f32.mul (local.get $b2) (f32.load (local.get $b)))
                              (f32.mul (local.get $o2) (f32.mul (local.get $gs) (local.get $gs)))))
      (f32.store (local.get $a) (local.get $ms))
      (f32.store (local.get $b) (local.get $vs))
      (f32.store (local.get $p)
        (f32.sub (f32.load (local.get $p))
          (f32.div (f32.mul (local.get $step) (local.get $ms))
                   (f32.add (f32.sqrt (local.get $vs)) (local.get $eps)))))
      (local.set $p (i32.add (local.get $p) (i32.const 4)))
      (local.set $g (i32.add (local.get $g) (i32.const 4)))
      (local.set $a (i32.add (local.get $a) (i32.const 4)))
      (local.set $b (i32.add (local.get $b) (i32.const 4)))
      (br $s)))
    (f64.const 0))

  ;; sumsq: the sum of g[i]^2 over [0, n), in float64               (p, a, b, c0..c5 unused)
  ;; The gradient gate's norm, and its finiteness check: a NaN or an infinity anywhere
  ;; makes the sum NaN or +Infinity, and nothing else can, because float64 never
  ;; overflows here (FLT_MAX^2 is 1.2e77; 2^30 of them, all wasm32 holds, 1.2e86). Each square is exact in
  ;; float64 (48 significant bits, exponents within range, subnormals included), so only
  ;; the additions round: a term passes through at most n/8 + 3 of them in the eight
  ;; lanes (four f64x2 accumulators, which also keeps four adds in flight) and up to 15
  ;; more in the tail; the sum's relative error is at most that count times 2^-53.
  ;; Float32 lanes would run up to 3x faster from cache, but their squares overflow above
  ;; 1.8e19 (a finite gradient would read as NON_FINITE) and their sums drift with n;
  ;; from memory, where a push's gradient mostly is, the two run at the same speed.
  (func (export "sumsq") (param $p i32) (param $g i32) (param $a i32) (param $b i32) (param $n i32)
      (param $c0 f32) (param $c1 f32) (param $c2 f32) (param $c3 f32) (param $c4 f32) (param $c5 f32) (result f64)
    (local $end i32) (local $x v128) (local $s0 v128) (local $s1 v128) (local $s2 v128) (local $s3 v128)
    (local $sum f64) (local $xs f64)
    (local.set $end (i32.add (local.get $g) (i32.shl (i32.and (local.get $n) (i32.const -16)) (i32.const 2))))
    (block $vdone (loop $v
      (br_if $vdone (i32.ge_u (local.get $g) (local.get $end)))
      ;; Two floats at a time, widened to float64 as they load.
      (local.set $x (f64x2.promote_low_f32x4 (v128.load64_zero offset=0 (local.get $g))))
      (local.set $s0 (f64x2.add (local.get $s0) (f64x2.mul (local.get $x) (local.get $x))))
      (local.set $x (f64x2.promote_low_f32x4 (v128.load64_zero offset=8 (local.get $g))))
      (local.set $s1 (f64x2.add (local.get $s1) (f64x2.mul (local.get $x) (local.get $x))))
      (local.set $x (f64x2.promote_low_f32x4 (v128.load64_zero offset=16 (local.get $g))))
      (local.set $s2 (f64x2.add (local.get $s2) (f64x2.mul (local.get $x) (local.get $x))))
      (local.set $x (f64x2.promote_low_f32x4 (v128.load64_zero offset=24 (local.get $g))))
      (local.set $s3 (f64x2.add (local.get $s3) (f64x2.mul (local.get $x) (local.get $x))))
      (local.set $x (f64x2.promote_low_f32x4 (v128.load64_zero offset=32 (local.get $g))))
      (local.set $s0 (f64x2.add (local.get $s0) (f64x2.mul (local.get $x) (local.get $x))))
      (local.set $x (f64x2.promote_low_f32x4 (v128.load64_zero offset=40 (local.get $g))))
      (local.set $s1 (f64x2.add (local.get $s1) (f64x2.mul (local.get $x) (local.get $x))))
      (local.set $x (f64x2.promote_low_f32x4 (v128.load64_zero offset=48 (local.get $g))))
      (local.set $s2 (f64x2.add (local.get $s2) (f64x2.mul (local.get $x) (local.get $x))))
      (local.set $x (f64x2.promote_low_f32x4 (v128.load64_zero offset=56 (local.get $g))))
      (local.set $s3 (f64x2.add (local.get $s3) (f64x2.mul (local.get $x) (local.get $x))))
      (local.set $g (i32.add (local.get $g) (i32.const 64)))
      (br $v)))
    (local.set $x (f64x2.add (f64x2.add (local.get $s0) (local.get $s1)) (f64x2.add (local.get $s2) (local.get $s3))))
    (local.set $sum (f64.add (f64x2.extract_lane 0 (local.get $x)) (f64x2.extract_lane 1 (local.get $x))))
    (local.set $end (i32.add (local.get $end) (i32.shl (i32.and (local.get $n) (i32.const 15)) (i32.const 2))))
    (block $sdone (loop $s
      (br_if $sdone (i32.ge_u (local.get $g) (local.get $end)))
      (local.set $xs (f64.promote_f32 (f32.load (local.get $g))))
      (local.set $sum (f64.add (local.get $sum) (f64.mul (local.get $xs) (local.get $xs))))
      (local.set $g (i32.add (local.get $g) (i32.const 4)))
      (br $s)))
    (local.get $sum))

  ;; copy: p <- g, bit for bit                            (a, b, c0..c5 unused)
  ;; Not an optimizer: the baseline bench ps-apply measures the optimizers against, run
  ;; through the same arena and the same pool split, so that a ratio compares an update's
  ;; arithmetic and traffic with moving the same bytes, on the same number of threads.
  ;; Eight vectors (128 bytes) a turn: one a turn copies up to 30 % slower than memmove
  ;; (Float32Array.prototype.set) on one core, and a weak baseline flatters every ratio.
  (func (export "copy") (param $p i32) (param $g i32) (param $a i32) (param $b i32) (param $n i32)
      (param $c0 f32) (param $c1 f32) (param $c2 f32) (param $c3 f32) (param $c4 f32) (param $c5 f32) (result f64)
    (local $end i32)
    (local.set $end (i32.add (local.get $p) (i32.shl (i32.and (local.get $n) (i32.const -32)) (i32.const 2))))
    (block $udone (loop $u
      (br_if $udone (i32.ge_u (local.get $p) (local.get $end)))
      (v128.store offset=0 (local.get $p) (v128.load offset=0 (local.get $g)))
      (v128.store offset=16 (local.get $p) (v128.load offset=16 (local.get $g)))
      (v128.store offset=32 (local.get $p) (v128.load offset=32 (local.get $g)))
      (v128.store offset=48 (local.get $p) (v128.load offset=48 (local.get $g)))
      (v128.store offset=64 (local.get $p) (v128.load offset=64 (local.get $g)))
      (v128.store offset=80 (local.get $p) (v128.load offset=80 (local.get $g)))
      (v128.store offset=96 (local.get $p) (v128.load offset=96 (local.get $g)))
      (v128.store offset=112 (local.get $p) (v128.load offset=112 (local.get $g)))
      (local.set $p (i32.add (local.get $p) (i32.const 128)))
      (local.set $g (i32.add (local.get $g) (i32.const 128)))
      (br $u)))
    (local.set $end (i32.add (local.get $end) (i32.shl (i32.and (local.get $n) (i32.const 28)) (i32.const 2))))
    (block $vdone (loop $v
      (br_if $vdone (i32.ge_u (local.get $p) (local.get $end)))
      (v128.store (local.get $p) (v128.load (local.get $g)))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (local.set $g (i32.add (local.get $g) (i32.const 16)))
      (br $v)))
    ;; The tail as integers: the bits move unchanged whatever they mean as floats (NaN payloads).
    (local.set $end (i32.add (local.get $end) (i32.shl (i32.and (local.get $n) (i32.const 3)) (i32.const 2))))
    (block $sdone (loop $s
      (br_if $sdone (i32.ge_u (local.get $p) (local.get $end)))
      (i32.store (local.get $p) (i32.load (local.get $g)))
      (local.set $p (i32.add (local.get $p) (i32.const 4)))
      (local.set $g (i32.add (local.get $g) (i32.const 4)))
      (br $s)))
    (f64.const 0))
)

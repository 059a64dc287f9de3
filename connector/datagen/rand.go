package datagen

import "math/bits"

// Rand is a small SplitMix64 generator. The generator hands each record a Rand
// seeded from (seed, record index), so record i is the same in every run, at
// every parallelism and after every restore. It is a value type: seeding and
// drawing allocate nothing.
type Rand struct{ state uint64 }

const golden = 0x9e3779b97f4a7c15

// mix64 is SplitMix64's finalizer: a bijection that spreads every input bit.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// NewRand returns the generator of record index under seed.
func NewRand(seed uint64, index int64) Rand {
	var r Rand
	r.Reset(seed, index)
	return r
}

// Reset reseeds r for record index under seed.
func (r *Rand) Reset(seed uint64, index int64) {
	r.state = mix64(seed^golden) ^ mix64(uint64(index)*golden+1)
}

// Uint64 returns 64 uniformly random bits.
func (r *Rand) Uint64() uint64 {
	r.state += golden
	return mix64(r.state)
}

// Intn returns a uniform int in [0, n); it panics if n <= 0, like math/rand.
func (r *Rand) Intn(n int) int {
	if n <= 0 {
		panic("datagen: Intn needs n > 0")
	}
	// Lemire's multiply-and-reject: unbiased without division on the fast path.
	bound := uint64(n)
	hi, lo := bits.Mul64(r.Uint64(), bound)
	if lo < bound {
		thresh := -bound % bound
		for lo < thresh {
			hi, lo = bits.Mul64(r.Uint64(), bound)
		}
	}
	return int(hi)
}

// Float64 returns a uniform float64 in [0, 1).
func (r *Rand) Float64() float64 { return float64(r.Uint64()>>11) / (1 << 53) }

//! Generates `FUNCTIONS` distinct functions and a table of them, so the component carries
//! as much code as an interpreter does (CPython's is 12 to 16 MiB). Each function mixes
//! its argument with constants of its own through a few branches, so neither LLVM nor
//! Cranelift can fold two of them into one or drop any: the handler reaches every one
//! through the table.

use std::fmt::Write as _;
use std::path::PathBuf;

/// How many functions; with `STEPS` steps each, about 13 MiB of wasm.
const FUNCTIONS: u64 = 3_400;
/// Steps per function.
const STEPS: u64 = 48;

fn main() {
    let mut src = String::new();
    let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
    let mut next = || {
        // splitmix64: distinct, reproducible constants.
        seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    for f in 0..FUNCTIONS {
        writeln!(src, "#[inline(never)]\nfn f{f}(mut x: u64, y: &mut [u64; 4]) -> u64 {{").unwrap();
        for s in 0..STEPS {
            let (a, b, c) = (next(), next(), next() % 63 + 1);
            let lane = s % 4;
            writeln!(
                src,
                "    x = (x ^ {a:#x}).wrapping_mul({b:#x} | 1).rotate_left({c});\n    \
                 if x & {bit} != 0 {{ y[{lane}] = y[{lane}].wrapping_add(x); }} else {{ x ^= y[{lane}] >> {c}; }}",
                bit = 1u64 << (s % 64),
            )
            .unwrap();
        }
        writeln!(src, "    x\n}}").unwrap();
    }
    writeln!(src, "pub static TABLE: [fn(u64, &mut [u64; 4]) -> u64; {FUNCTIONS}] = [").unwrap();
    for f in 0..FUNCTIONS {
        writeln!(src, "    f{f},").unwrap();
    }
    writeln!(src, "];").unwrap();
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("functions.rs"), src).expect("write the generated functions");
    println!("cargo::rerun-if-changed=build.rs");
}

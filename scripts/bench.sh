#!/usr/bin/env bash
# Runs the benchmarks README.md reports, in one go, and writes their tables
# into README.md between the `bench-report` markers (and to
# target/bench-report/report.md).
#
#   scripts/bench.sh              # about 6 minutes on a 2-core machine
#   scripts/bench.sh --no-readme  # measure and write the report, leave README.md alone
#
# The comparison bench (`benches/compare.rs`) measures seawall and its peers
# per call with criterion; the end-to-end bench (`benches/axum_e2e.rs`) loads
# an axum server on 127.0.0.1 with and without the preset stack, twice (as a
# server configures it, and copying requests for retries); the breaker bench
# (`benches/breaker.rs`) takes the breaker apart case by case. Every ratio
# in the report comes from one run on one machine: compare rows within it,
# not with other machines.
set -euo pipefail

cd "$(dirname "$0")/.."
update_readme=true
for arg in "$@"; do
    case "$arg" in
        --no-readme) update_readme=false ;;
        -h | --help)
            sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "unknown argument: $arg (try --help)" >&2
            exit 2
            ;;
    esac
done

target=${CARGO_TARGET_DIR:-target}
export CARGO_TARGET_DIR=$target
# Where criterion writes its estimates and the benches read them back.
export CRITERION_HOME=$target/criterion
report_dir=$target/bench-report
report=$report_dir/report.md
mkdir -p "$report_dir"
rm -f "$report_dir"/compare.md "$report_dir"/breaker.md "$report_dir"/axum_e2e*.md

started=$(date +%s)
cargo bench --all-features --bench compare -- --warm-up-time 1 --measurement-time 2
cargo bench --all-features --bench breaker -- --warm-up-time 1 --measurement-time 2
SEAWALL_E2E_STACK=server cargo bench --all-features --bench axum_e2e
SEAWALL_E2E_STACK=replay cargo bench --all-features --bench axum_e2e
elapsed=$(($(date +%s) - started))

for part in compare.md breaker.md axum_e2e.md axum_e2e-replay.md; do
    if [[ ! -s $report_dir/$part ]]; then
        echo "missing $report_dir/$part: a bench did not finish" >&2
        exit 1
    fi
done

cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
memory=$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo 2>/dev/null || true)
{
    echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') by \`scripts/bench.sh\` (${elapsed} s) on"
    echo "${cpu:-an unknown CPU}, $(nproc) cores, ${memory:-unknown memory}, $(uname -sr),"
    echo "$(rustc --version). Single numbers move between runs on a shared"
    echo "machine; compare rows of one run."
    echo
    cat "$report_dir/compare.md"
    echo
    echo "**End to end: axum on 127.0.0.1, with and without the preset stack**"
    echo
    echo "The preset as a server has it (\`NoClone\`: retries are the client's business):"
    echo
    cat "$report_dir/axum_e2e.md"
    echo
    echo "The preset copying every request for retries (\`HttpReplay\`):"
    echo
    cat "$report_dir/axum_e2e-replay.md"
    echo
    cat "$report_dir/breaker.md"
} >"$report"
echo "wrote $report"

if $update_readme; then
    start='<!-- bench-report:start -->'
    end='<!-- bench-report:end -->'
    if ! grep -qF "$start" README.md || ! grep -qF "$end" README.md; then
        echo "README.md has no $start ... $end markers" >&2
        exit 1
    fi
    # Both markers must stand alone on their lines, start before end; otherwise
    # README.md is left as it was.
    if ! awk -v start="$start" -v end="$end" -v report="$report" '
        { sub(/\r$/, "") }
        $0 == start && !seen_start { print; while ((getline line < report) > 0) print line; seen_start = 1; skipping = 1; next }
        $0 == end && skipping { skipping = 0; seen_end = 1 }
        !skipping { print }
        END { exit !(seen_start && seen_end) }
    ' README.md >README.md.new; then
        rm -f README.md.new
        echo "README.md: the $start and $end lines were not found in order; left unchanged" >&2
        exit 1
    fi
    mv README.md.new README.md
    echo "updated README.md"
fi

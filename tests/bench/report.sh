#!/usr/bin/env bash
# The benchmark's Markdown report: medians of the raw figures that run.sh wrote, the
# ratios to the single UPDATE, and which targets were met.
#
#   tests/bench/report.sh RESULTS.tsv ROWS REPS
#
# RESULTS.tsv: engine rep method load key value, tab-separated (see run.sh).
set -euo pipefail
(($# == 3)) || {
	echo "usage: report.sh RESULTS.tsv ROWS REPS" >&2
	exit 2
}

# medians: engine method load key median
sort -t $'\t' -k1,1 -k3,3 -k4,4 -k5,5 -k6,6g "$1" | awk -F '\t' '
	function flush() {
		if (n == 0) return
		m = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
		print key "\t" m
		n = 0
	}
	{
		k = $1 "\t" $3 "\t" $4 "\t" $5
		if (k != key) { flush(); key = k }
		v[++n] = $6
	}
	END { flush() }' | awk -F '\t' -v rows="$2" -v reps="$3" -v cores="$(nproc)" -v host="$(uname -srm), $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB RAM", $2 / 1048576 }' /proc/meminfo), $(. /etc/os-release && echo "$PRETTY_NAME")" '
	{ med[$1, $2, $3, $4] = $5; seen[$1] = 1 }
	function has(e, m, l, k) { return ((e, m, l, k) in med) }
	# (reading a missing element would create it)
	function get(e, m, l, k) { return has(e, m, l, k) ? med[e, m, l, k] : 0 }
	function num(x, d) { return sprintf("%." d "f", x) }
	function thousands(x,   s, r) {
		s = sprintf("%.0f", x); r = ""
		while (length(s) > 3) { r = "," substr(s, length(s) - 2) r; s = substr(s, 1, length(s) - 3) }
		return s r
	}
	function cell(e, m, l, k, d) { return has(e, m, l, k) ? num(get(e, m, l, k), d) : "–" }
	function pct(e, m, l) { return has(e, m, l, "machine_busy_pct") ? num(get(e, m, l, "machine_busy_pct"), 0) "%" : "–" }
	function ratio(a, b) { return (b > 0) ? num(a / b, 2) "×" : "–" }
	function label(e, m) {
		if (m == "update") return "single `UPDATE … WHERE dst IS NULL`"
		if (m == "shell") return "shell loop, one `" (e == "postgres" ? "psql" : "mariadb") "` per 1,000 keys"
		if (m == "dbloop") return (e == "postgres" ? "PL/pgSQL procedure" : "stored procedure") ", COMMIT per 1,000 keys"
		if (m == "dbloop_max") return "the same, COMMIT per 50,000 keys (backfilld'"'"'s batch size)"
		if (m == "backfilld") return "**backfilld**, default settings"
		if (m == "backfilld_lag") return "**backfilld**, `max_replication_lag: 1s`, slowed replica"
		if (m == "alone") return "foreground workload alone"
		if (m == "alone_slowed") return "foreground workload alone, slowed replica"
		return m
	}
	function target(ok, text, got) {
		printf "- %s %s: %s\n", (ok ? "**met**" : "**missed**"), text, got
	}
	END {
		if ("postgres" in seen) order[++ne] = "postgres"
		if ("mysql" in seen) order[++ne] = "mysql"
		nu = split("update shell dbloop dbloop_max backfilld", unloaded, " ")
		nl = split("alone update shell dbloop dbloop_max backfilld alone_slowed backfilld_lag", loaded, " ")
		printf "Rows: %s; medians of %s repetitions; %s.\n", thousands(rows), reps, host
		for (i = 1; i <= ne; i++) {
			e = order[i]
			base = get(e, "update", "idle", "rows_per_s")
			printf "\n### %s\n\n", (e == "postgres" ? "PostgreSQL 15" : "MariaDB 10.11")
			print "Unloaded:\n"
			print "| method | rows/s | × single UPDATE | seconds | max replica lag (s) | database CPU (s) | machine CPU busy | index on src after (MiB) |"
			print "|---|---:|---:|---:|---:|---:|---:|---:|"
			for (j = 1; j <= nu; j++) {
				m = unloaded[j]
				if (!has(e, m, "idle", "rows_per_s")) continue
				r = get(e, m, "idle", "rows_per_s")
				printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", label(e, m), thousands(r), ratio(r, base),
					cell(e, m, "idle", "seconds", 1), cell(e, m, "idle", "max_lag_s", 2),
					cell(e, m, "idle", "db_cpu_s", 1), pct(e, m, "idle"),
					(has(e, m, "idle", "index_kib") ? num(get(e, m, "idle", "index_kib") / 1024, 1) : "–")
			}
			print "\nUnder the foreground workload (4 clients; single-row UPDATE + SELECT by random key):\n"
			print "| method | rows/s | × unloaded single UPDATE | foreground TPS | × alone | p50 (ms) | p99 (ms) | × alone | max (ms) | max replica lag (s) | machine CPU busy |"
			print "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
			for (j = 1; j <= nl; j++) {
				m = loaded[j]
				if (!has(e, m, "fg", "fg_tps")) continue
				alone = (m == "backfilld_lag" || m == "alone_slowed") ? "alone_slowed" : "alone"
				r = has(e, m, "fg", "rows_per_s") ? get(e, m, "fg", "rows_per_s") : ""
				to = has(e, m, "fg", "timed_out") ? "did not finish in " get(e, m, "fg", "timed_out") " s" : "–"
				printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", label(e, m),
					(r == "" ? to : thousands(r)), (r == "" ? "–" : ratio(r, base)),
					thousands(get(e, m, "fg", "fg_tps")),
					ratio(get(e, m, "fg", "fg_tps"), get(e, alone, "fg", "fg_tps")),
					cell(e, m, "fg", "fg_p50_ms", 2), cell(e, m, "fg", "fg_p99_ms", 2),
					ratio(get(e, m, "fg", "fg_p99_ms"), get(e, alone, "fg", "fg_p99_ms")),
					cell(e, m, "fg", "fg_max_ms", 1), cell(e, m, "fg", "max_lag_s", 2), pct(e, m, "fg")
			}
			printf "\nMachine CPU busy: the share of all %s cores'"'"' time, from `/proc/stat`, that was not idle while the method ran.\n", cores
			if (has(e, "backfilld", "idle", "rss_kib")) {
				rss = get(e, "backfilld", "idle", "rss_kib") / 1024
				anon = get(e, "backfilld", "idle", "anon_kib") / 1024
				cpu = get(e, "backfilld", "idle", "daemon_cpu_s")
				dbcpu = get(e, "backfilld", "idle", "db_cpu_s")
				sp99 = get(e, "backfilld", "idle", "status_p99_ms")
				printf "\nbackfilld itself (unloaded run): peak RSS %s MiB, of which its own memory (anonymous: heap and stacks) %s MiB and the rest pages of the shared libraries (the job'"'"'s client library and what it pulls in: TLS, Kerberos, LDAP; libc); CPU %s s, %s%% of the database'"'"'s %s s; ", \
					num(rss, 1), num(anon, 1), num(cpu, 2), (dbcpu > 0 ? num(100 * cpu / dbcpu, 1) : "–"), num(dbcpu, 1)
				if (has(e, "backfilld", "idle", "floor_rss_kib"))
					printf "a program that only links the same client library and loads it peaks at %s MiB, and one that also connects the same way and runs `SELECT 1` (`tests/bench/client_floor.c`) at %s MiB; ", \
						num(get(e, "backfilld", "idle", "floor_load_rss_kib") / 1024, 1), \
						num(get(e, "backfilld", "idle", "floor_rss_kib") / 1024, 1)
				printf "`status` round trip p50 %s ms, p99 %s ms (%s requests while it ran); ", \
					cell(e, "backfilld", "idle", "status_p50_ms", 2), num(sp99, 2), \
					cell(e, "backfilld", "idle", "status_samples", 0)
				printf "the run with its final verify walk: %s s.\n", cell(e, "backfilld", "idle", "wall_with_verify_s", 1)
			}
			print "\nTargets:\n"
			if (has(e, "backfilld", "idle", "rows_per_s") && base > 0) {
				r = get(e, "backfilld", "idle", "rows_per_s") / base
				target(r >= 0.90, "unloaded, backfilld ≥ 0.90× the single UPDATE", num(r, 2) "×")
				if (has(e, "dbloop_max", "idle", "rows_per_s"))
					printf "  (batches of its size, with no client at all, reach %s the single UPDATE; backfilld reaches %s of them)\n", \
						ratio(get(e, "dbloop_max", "idle", "rows_per_s"), base), \
						ratio(get(e, "backfilld", "idle", "rows_per_s"), get(e, "dbloop_max", "idle", "rows_per_s"))
			}
			if (has(e, "backfilld", "fg", "fg_tps") && has(e, "alone", "fg", "fg_tps")) {
				r = get(e, "backfilld", "fg", "fg_tps") / get(e, "alone", "fg", "fg_tps")
				target(r >= 0.80, "foreground TPS ≥ 0.80× alone", num(r, 2) "×")
				x = get(e, "backfilld", "fg", "fg_max_ms")
				target(x <= 100, "foreground max latency ≤ 100 ms", num(x, 1) " ms")
				r = get(e, "backfilld", "fg", "fg_p99_ms") / get(e, "alone", "fg", "fg_p99_ms")
				target(r <= 1.5, "foreground p99 ≤ 1.5× alone", num(r, 2) "×")
				if (base > 0) {
					r = get(e, "backfilld", "fg", "rows_per_s") / base
					target(r >= 0.50, "under the workload, backfilld ≥ 0.50× the unloaded single UPDATE", num(r, 2) "×")
				}
				# what the rate target costs the machine: the share of its CPU time that the
				# unloaded run kept busy (primary, replica, daemon and all), scaled to the rate
				busy = get(e, "alone", "fg", "machine_busy_pct")
				r = get(e, "backfilld", "idle", "rows_per_s")
				if (base > 0 && busy > 0 && r > 0 && has(e, "backfilld", "idle", "machine_busy_pct")) {
					share = get(e, "backfilld", "idle", "machine_busy_pct") * 0.5 * base / r
					printf "  (unloaded, backfilld'"'"'s run kept the machine (primary, replica and daemon together) %s%% busy at %s rows/s; at 0.50× the single UPDATE, %s rows/s, that is %s%% of the machine, which the workload alone keeps %s%% busy: a workload that lost only CPU time, in proportion, would keep at most %s its TPS)\n", \
						num(get(e, "backfilld", "idle", "machine_busy_pct"), 0), thousands(r), thousands(0.5 * base), \
						num(share, 0), num(busy, 0), num(((100 - share) / busy < 1 ? (100 - share) / busy : 1), 2) "×"
				}
			}
			if (has(e, "backfilld_lag", "fg", "max_lag_s") && has(e, "alone_slowed", "fg", "max_lag_s")) {
				x = get(e, "backfilld_lag", "fg", "max_lag_s"); a = get(e, "alone_slowed", "fg", "max_lag_s")
				target(x <= 1 + 0.5 + a, "max replica lag with `max_replication_lag: 1s` ≤ 1 s + one target_time (0.5 s) + the workload'"'"'s own lag on the slowed replica (" num(a, 2) " s)", num(x, 2) " s")
			}
			if (has(e, "backfilld", "idle", "rss_kib")) {
				target(rss <= 8, "daemon peak RSS ≤ 8 MiB", num(rss, 1) " MiB (its own memory: " num(anon, 1) " MiB" \
					(has(e, "backfilld", "idle", "floor_rss_kib") ? "; the client library alone, loaded: " num(get(e, "backfilld", "idle", "floor_load_rss_kib") / 1024, 1) " MiB, connected: " num(get(e, "backfilld", "idle", "floor_rss_kib") / 1024, 1) " MiB" : "") ")")
				if (dbcpu > 0) target(cpu / dbcpu <= 0.05, "daemon CPU ≤ 5% of the database'"'"'s", num(100 * cpu / dbcpu, 1) "%")
				target(sp99 <= 5, "`status` p99 ≤ 5 ms while batches run", num(sp99, 2) " ms")
			}
		}
	}'

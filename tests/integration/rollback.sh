#!/usr/bin/env bash
# rollback: after a run, the inverse job (rollback.set, default every set column =
# NULL) over the forward job's range restores exactly the rows in range, survives
# kill -9 with exact resume, records itself as "<job>:rollback", and leaves rows
# outside the range untouched.
source "$(dirname "$0")/../lib/itest.sh"
it_setup rollback

it_items 40000
it_config "$IT_DIR/job.yaml" "batch:
  size: 200
  max_size: 200
  sleep: 20ms"
out=$(it_run run -c "$IT_DIR/job.yaml" 2>"$IT_DIR/run.log")
it_eq "$?" 0 "forward run ($(tail -n 2 "$IT_DIR/run.log"))"
hw=$(it_ckpt hw0)
in_range=$(it_sql "SELECT count(*) FROM items WHERE id <= $hw AND new_status IS NOT NULL")
it_le 1 "$in_range" "rows the forward job set"
# rows outside the range, written by the application: the rollback keeps them
if it_pg; then
	it_sql "INSERT INTO items SELECT $hw + g, g, 'late', g FROM generate_series(1, 50) g"
else
	it_sql "INSERT INTO items SELECT $hw + seq, seq, 'late', seq FROM seq_1_to_50"
fi

# kill -9 the rollback a few times, then let it finish
kills=0
for i in 1 2 3 4 5; do
	it_start "$IT_DIR/rb$i.log" rollback -c "$IT_DIR/job.yaml"
	it_kill_at 100 300 && kills=$((kills + 1))
	# the checkpoint never runs ahead of or behind the data
	cur=$(it_ckpt cursor0 rollback:rollback)
	[[ -n "$cur" ]] || cur=0
	it_eq "$(it_sql "SELECT count(*) FROM items WHERE id <= $cur AND new_status IS NOT NULL AND payload <> 'late'")" \
		0 "rollback $i: rows at or below its cursor still set"
	it_eq "$(it_sql "SELECT count(*) FROM items WHERE id > $cur AND id <= $hw AND $(it_distinct new_status old_status)")" \
		0 "rollback $i: rows above its cursor touched"
	rd=$(it_ckpt rows_done rollback:rollback)
	[[ -n "$rd" ]] || rd=0
	it_eq "$(it_sql "SELECT count(*) FROM items WHERE id <= $cur AND old_status IS NOT NULL")" "$rd" \
		"rollback $i: rows_done against the rows it restored"
done
it_le 3 "$kills" "kills that landed"
out=$(it_run rollback -c "$IT_DIR/job.yaml" 2>"$IT_DIR/rb.log")
it_eq "$?" 0 "final rollback ($(tail -n 2 "$IT_DIR/rb.log"))"
it_eq "$out" "verify: 0 pending, 0 diverged, 40000 rows checked" "rollback's own verify"
it_eq "$(it_sql "SELECT count(*) FROM items WHERE id <= $hw AND new_status IS NOT NULL")" 0 "rows still set"
it_eq "$(it_sql "SELECT count(*) FROM items WHERE id > $hw AND new_status = id - $hw")" 50 "rows outside the range"
it_eq "$(it_ckpt "CONCAT_WS(' ', state, rows_done)" rollback:rollback)" "done $in_range" "rollback checkpoint row"
# (the forward job matched every row, NULL sources too; the rollback only the set ones)
it_eq "$(it_ckpt "CONCAT_WS(' ', state, rows_done)")" "done 40000" "the forward job's row is left as it was"
# the forward job's verify now finds the rows pending again
it_run verify -c "$IT_DIR/job.yaml" >"$IT_DIR/verify.out" 2>/dev/null
it_eq "$?" 3 "verify after the rollback"
it_contains "$IT_DIR/verify.out" "verify: $in_range pending, 0 diverged" "pending after the rollback"
it_pass

-- The foreground workload on MariaDB (sysbench): the same transaction as
-- foreground.sql for pgbench. A single-row UPDATE that writes both the old and the
-- new column (the expand phase's dual write) and a SELECT of the same row, by a
-- random existing key (ids are g * 3 + g % 7 for g in 1..rows), autocommit.
--
-- Each thread logs one line per transaction, "END_EPOCH_US LATENCY_US", to
-- LOG_PREFIX.THREAD, like pgbench's per-transaction log, so that run.sh computes
-- the same statistics for both engines over exactly the window it measures.
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec_t;
int clock_gettime(int clock_id, bench_timespec_t *tp);
]]

sysbench.cmdline.options = {
	rows = { "rows in the table (keys g * 3 + g % 7, g = 1..rows)", 1000000 },
	log_prefix = { "per-thread transaction log: LOG_PREFIX.THREAD", "foreground" },
}

local ts = ffi.new("bench_timespec_t")
local function now_us()
	ffi.C.clock_gettime(0, ts) -- CLOCK_REALTIME, as pgbench's log
	return tonumber(ts.tv_sec) * 1000000 + math.floor(tonumber(ts.tv_nsec) / 1000)
end

function thread_init()
	drv = sysbench.sql.driver()
	con = drv:connect()
	log = assert(io.open(sysbench.opt.log_prefix .. "." .. sysbench.tid, "w"))
end

function event()
	local g = sysbench.rand.uniform(1, sysbench.opt.rows)
	local id = g * 3 + g % 7
	local v = sysbench.rand.uniform(0, 999)
	local t0 = now_us()
	con:query(string.format("UPDATE bench SET src = %d, dst = %d WHERE id = %d", v, v, id))
	con:query(string.format("SELECT payload FROM bench WHERE id = %d", id))
	local t1 = now_us()
	-- whole numbers: LuaJIT prints a double with 14 digits, microseconds since the
	-- epoch have 16
	log:write(string.format("%.0f %.0f\n", t1, t1 - t0))
end

function thread_done()
	log:close()
	con:disconnect()
end

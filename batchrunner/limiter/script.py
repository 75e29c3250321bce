"""The one atomic Lua script behind ``RedisBudget``; it mirrors ``bucket.py`` line for line.

KEYS[1] is a hash (requests_tat, tokens_tat, paused_until). ARGV: op, now ("" means the Redis server's
own clock, so pods with skewed clocks agree), requests_per_minute, tokens_per_minute, burst_seconds,
then the op's arguments. Floats travel as strings ("%.17g") because Redis truncates Lua numbers in
replies. The hash expires when the buckets are full again and no pause is left, so an idle fleet
leaves nothing behind.
"""

LUA_SOURCE = r"""
local key = KEYS[1]
local op = ARGV[1]
local now
if ARGV[2] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
else
  now = tonumber(ARGV[2])
end
local rpm = tonumber(ARGV[3])
local tpm = tonumber(ARGV[4])
local burst = tonumber(ARGV[5])
local CLOCK_NOISE_S = 1e-6
local WAIT_MARGIN_S = 1e-5

local fields = redis.call('HMGET', key, 'requests_tat', 'tokens_tat', 'paused_until')
local requests_tat = tonumber(fields[1]) or 0
local tokens_tat = tonumber(fields[2]) or 0
local paused_until = tonumber(fields[3]) or 0

local function fmt(x) return string.format('%.17g', x) end
local function unit_seconds(limit) return 60.0 / limit end
local function backlog(tat) return math.max(tat - now, 0) end
local function optional(value) if value == '' then return nil end return tonumber(value) end

local function save()
  local horizon = math.max(requests_tat, tokens_tat, paused_until) - now
  if horizon <= 0 then
    redis.call('DEL', key)
    return
  end
  redis.call('HSET', key, 'requests_tat', fmt(requests_tat), 'tokens_tat', fmt(tokens_tat),
             'paused_until', fmt(paused_until))
  redis.call('PEXPIRE', key, math.ceil(horizon * 1000) + 1000)
end

local function wait_for(limit, cost, tat, threshold)
  if limit > 0 and cost > 0 then
    local ahead = backlog(tat)
    if ahead > threshold - CLOCK_NOISE_S then return ahead - threshold + WAIT_MARGIN_S end
  end
  return 0
end

local function server_floor(limit, remaining, reset_s)
  local unit = unit_seconds(limit)
  remaining = math.max(remaining, 0)
  local horizon = reset_s
  if horizon == nil then horizon = (limit - remaining) * unit end
  return now + burst + math.max(horizon, 0) - remaining * unit
end

if op == 'acquire' then
  local requests = tonumber(ARGV[6])
  local tokens = tonumber(ARGV[7])
  local threshold = burst * (1.0 - tonumber(ARGV[8]))
  local wait = math.max(paused_until - now, 0)
  local reason = 'paused'
  local need = wait_for(rpm, requests, requests_tat, threshold)
  if need > wait then wait = need; reason = 'requests' end
  need = wait_for(tpm, tokens, tokens_tat, threshold)
  if need > wait then wait = need; reason = 'tokens' end
  if wait > 0 then return {0, fmt(wait), reason} end
  if rpm > 0 and requests > 0 then
    requests_tat = math.max(requests_tat, now) + requests * unit_seconds(rpm)
  end
  if tpm > 0 and tokens > 0 then
    tokens_tat = math.max(tokens_tat, now) + tokens * unit_seconds(tpm)
  end
  save()
  return {1, '0', ''}
elseif op == 'adjust' then
  local delta = tonumber(ARGV[6])
  if tpm > 0 and delta ~= 0 then
    local shifted = math.max(tokens_tat, now) + delta * unit_seconds(tpm)
    tokens_tat = math.max(shifted, now)
    save()
  end
elseif op == 'observe' then
  local remaining_requests, remaining_tokens = optional(ARGV[6]), optional(ARGV[8])
  if rpm > 0 and remaining_requests ~= nil then
    requests_tat = math.max(requests_tat, server_floor(rpm, remaining_requests, optional(ARGV[7])))
  end
  if tpm > 0 and remaining_tokens ~= nil then
    tokens_tat = math.max(tokens_tat, server_floor(tpm, remaining_tokens, optional(ARGV[9])))
  end
  save()
elseif op == 'pause' then
  paused_until = math.max(paused_until, now + math.max(tonumber(ARGV[6]), 0))
  save()
elseif op == 'snapshot' then
  return {fmt(backlog(requests_tat)), fmt(backlog(tokens_tat)), fmt(math.max(paused_until - now, 0))}
else
  return redis.error_reply('unknown budget op ' .. tostring(op))
end
return nil
"""

'use strict';
// What both comparators share: the DynamoDB client (AWS SDK for JavaScript
// v3, created once at init, keep-alive), the connection warm-up the Rust
// functions also do at init, and the item helpers of shared/src/store/.

const https = require('node:https');
const crypto = require('node:crypto');
const { DynamoDBClient } = require('@aws-sdk/client-dynamodb');
const { NodeHttpHandler } = require('@smithy/node-http-handler');

const TABLE = process.env.TABLE_NAME;

// Module-level, as a Node Lambda creates its clients at init. The endpoint
// comes from AWS_ENDPOINT_URL (the SDK reads it), the credentials and the
// region from the environment.
const ddbAgent = new https.Agent({ keepAlive: true, maxSockets: 50 });
const ddb = new DynamoDBClient({
  requestHandler: new NodeHttpHandler({ httpsAgent: ddbAgent }),
  maxAttempts: 3,
});

/** An unsigned `GET /` over `agent`, so its keep-alive pool holds an open
 * TLS connection before the first event (shared::aws::warm_up and the
 * Twilio client's warm_up do the same in the Rust functions). */
function warmUp(agent, baseUrl) {
  if (!baseUrl) return Promise.resolve();
  const u = new URL(baseUrl);
  return new Promise((resolve) => {
    const req = https.request(
      { host: u.hostname, port: u.port || 443, path: '/', method: 'GET', agent, timeout: 2000 },
      (res) => {
        res.resume();
        res.on('end', resolve);
        res.on('error', resolve);
      },
    );
    req.on('error', resolve);
    req.on('timeout', () => { req.destroy(); resolve(); });
    req.end();
  });
}

function warmUpDynamo() {
  return warmUp(ddbAgent, process.env.AWS_ENDPOINT_URL_DYNAMODB || process.env.AWS_ENDPOINT_URL);
}

// ---- attribute values (shared/src/store/item.rs) ----------------------------
const s = (v) => ({ S: String(v) });
const n = (v) => ({ N: String(v) });
const b = (v) => ({ BOOL: !!v });
const key = (pk, sk) => ({ PK: s(pk), SK: s(sk) });
const getS = (i, k) => (i && i[k] && typeof i[k].S === 'string' ? i[k].S : undefined);
const getN = (i, k) => {
  const v = i && i[k] && i[k].N;
  if (v === undefined) return undefined;
  const x = Number.parseInt(v, 10);
  return Number.isNaN(x) ? undefined : x;
};
const getBool = (i, k) => (i && i[k] && typeof i[k].BOOL === 'boolean' ? i[k].BOOL : undefined);
function reqS(i, k) {
  const v = getS(i, k);
  if (v === undefined) throw new Error(`corrupt item: missing string attribute ${k}`);
  return v;
}

/** `values_map`: `undefined` when empty (the SDK then leaves the field out). */
function valuesMap(pairs) {
  if (!pairs.length) return undefined;
  const m = {};
  for (const [k, v] of pairs) m[k] = v;
  return m;
}

/** A conditional Put for a transaction (Store::put). */
function txPut(item, condition, values = []) {
  return { Put: { TableName: TABLE, Item: item, ConditionExpression: condition, ExpressionAttributeValues: valuesMap(values) } };
}

/** A conditional Update for a transaction (Store::update). */
function txUpdate(k, expr, condition, values, names = []) {
  return {
    Update: {
      TableName: TABLE,
      Key: k,
      UpdateExpression: expr,
      ConditionExpression: condition,
      ExpressionAttributeValues: valuesMap(values),
      ExpressionAttributeNames: names.length ? Object.fromEntries(names) : undefined,
    },
  };
}

/** `ADD unread_total` on a counters item (Store::add_unread). */
function addUnread(counters, delta) {
  return delta === 0 ? [] : [txUpdate(counters, 'ADD unread_total :d', undefined, [[':d', n(delta)]])];
}

// ---- domain (shared/src/domain, shared/src/model.rs) -----------------------
const STATUS_RANK = {
  accepted: 1, scheduled: 1, queued: 2, sending: 3, sent: 4, receiving: 4, received: 4,
  delivered: 5, read: 6, failed: 9, undelivered: 9, canceled: 9,
};

const formatTs = (d) => d.toISOString(); // %Y-%m-%dT%H:%M:%S%.3fZ

function shortHash(parts) {
  const h = crypto.createHash('sha256');
  for (const p of parts) {
    h.update(p);
    h.update(Buffer.from([0]));
  }
  return h.digest('hex').slice(0, 26);
}

const sortKey = (msg) => `MSG#${msg.created_at}#${msg.id}`;
const convPk = (id) => `CONV#${id}`;
const activitySk = (ts, conv) => `${ts}#${conv}`;

/** `(created_at, id)` after the conversation's last message (ConversationMeta::is_newest). */
function isNewest(meta, msg) {
  if (meta.last_message_at === undefined || meta.last_message_id === undefined) return true;
  if (msg.created_at !== meta.last_message_at) return msg.created_at > meta.last_message_at;
  return msg.id > meta.last_message_id;
}

const truncateChars = (str, max) => Array.from(str).slice(0, max).join('');

/** shared/src/domain/effects.rs */
function messageEffects(meta, authorType, body, now) {
  const side = authorType === 'customer' || authorType === 'contact' ? 'customer' : 'business';
  const nowS = formatTs(now);
  const preview = truncateChars(body, 100);
  const ps = meta ? meta.pending_side : undefined;
  const since = meta ? meta.pending_since : undefined;
  if (ps !== undefined && since !== undefined) {
    if (ps === side) return { preview, response_ms: undefined, pending_side: ps, pending_since: since };
    const t = Date.parse(since);
    const response_ms = Number.isNaN(t) ? undefined : Math.max(0, now.getTime() - t);
    return { preview, response_ms, pending_side: side, pending_since: nowS };
  }
  return { preview, response_ms: undefined, pending_side: side, pending_since: nowS };
}

/** shared/src/store/conversations.rs meta_from (the fields these functions use). */
function metaFrom(i) {
  const participants = (i.participants && i.participants.L || [])
    .filter((v) => v.M)
    .map((v) => ({
      user_id: getS(v.M, 'user_id') || '',
      user_type: getS(v.M, 'user_type') || '',
      display_name: getS(v.M, 'display_name') || '',
      is_active: getBool(v.M, 'is_active') || false,
    }));
  const status = reqS(i, 'status');
  if (!['active', 'escalated', 'closed'].includes(status)) throw new Error(`corrupt item: conversation status ${status}`);
  const orgId = getS(i, 'org_id');
  return {
    id: reqS(i, 'id'),
    kind: reqS(i, 'kind'),
    booking_id: getS(i, 'booking_id'),
    status,
    twilio_sid: getS(i, 'twilio_sid'),
    created_at: reqS(i, 'created_at'),
    created_by: getS(i, 'created_by') || '',
    version: getN(i, 'version') || 0,
    message_count: getN(i, 'message_count') || 0,
    participant_count: getN(i, 'participant_count') || 0,
    first_message_at: getS(i, 'first_message_at'),
    last_message_at: getS(i, 'last_message_at'),
    last_message_id: getS(i, 'last_message_id'),
    last_message_preview: getS(i, 'last_message_preview'),
    last_message_author: getS(i, 'last_message_author'),
    last_message_index: getN(i, 'last_message_index'),
    response_count: getN(i, 'response_count') || 0,
    response_total_ms: getN(i, 'response_total_ms') || 0,
    first_response_ms: getN(i, 'first_response_ms'),
    pending_side: getS(i, 'pending_side'),
    pending_since: getS(i, 'pending_since'),
    participants,
    inbox: orgId === undefined ? undefined : {
      org_id: orgId,
      provider: getS(i, 'provider') || 'twilio',
      channel: getS(i, 'channel') || '',
      contact_address: getS(i, 'contact_address') || '',
      contact_name: getS(i, 'contact_name'),
      business_address: getS(i, 'business_address') || '',
      last_user_message_at: getS(i, 'last_user_message_at'),
      unread_count: getN(i, 'unread_count') || 0,
      last_read_at: getS(i, 'last_read_at'),
      opted_out: getBool(i, 'opted_out') || false,
    },
  };
}

/** shared/src/store/messages.rs message_item */
function messageItem(msg) {
  const i = key(convPk(msg.conversation_id), sortKey(msg));
  i.id = s(msg.id);
  i.conversation_id = s(msg.conversation_id);
  i.author_id = s(msg.author_id);
  i.author_type = s(msg.author_type);
  i.body = s(msg.body);
  i.created_at = s(msg.created_at);
  i.status = s(msg.status);
  i.status_rank = n(STATUS_RANK[msg.status]);
  if (msg.twilio_sid !== undefined) i.twilio_sid = s(msg.twilio_sid);
  if (msg.twilio_index !== undefined) i.twilio_index = n(msg.twilio_index);
  if (msg.details !== undefined) i.details = s(JSON.stringify(msg.details));
  return i;
}

/** The Twilio SID guard of a message (Store::claim_sid). */
function claimSid(sid, msg) {
  return {
    Update: {
      TableName: TABLE,
      Key: key(`SID#${sid}`, '#SID'),
      UpdateExpression: 'SET conversation_id = :c, message_sk = :sk',
      ConditionExpression: 'attribute_not_exists(message_sk) AND (attribute_not_exists(status_rank) OR status_rank <= :r)',
      ExpressionAttributeValues: { ':c': s(msg.conversation_id), ':sk': s(sortKey(msg)), ':r': n(STATUS_RANK[msg.status]) },
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    },
  };
}

/** TransactWriteItems: 'done', {failed: [index...]} or 'contended' (Store::transact). */
async function transact(items, TransactWriteItemsCommand) {
  try {
    await ddb.send(new TransactWriteItemsCommand({ TransactItems: items }));
    return 'done';
  } catch (e) {
    if (e && e.name === 'TransactionCanceledException') {
      const reasons = e.CancellationReasons || [];
      const failed = [];
      reasons.forEach((r, i) => { if (r.Code === 'ConditionalCheckFailed') failed.push([i, r.Item]); });
      if (!failed.length && reasons.some((r) => r.Code === 'TransactionConflict')) return 'contended';
      if (!failed.length) throw Object.assign(new Error('transaction cancelled'), { transient: true });
      return { failed };
    }
    throw e;
  }
}

/** One JSON log line on stdout, as the Rust functions' tracing JSON layer writes. */
function log(level, message, fields) {
  process.stdout.write(`${JSON.stringify({ level, fields: { message, ...fields } })}\n`);
}

module.exports = {
  TABLE, ddb, ddbAgent, warmUp, warmUpDynamo, s, n, b, key, getS, getN, getBool, reqS, valuesMap,
  txPut, txUpdate, addUnread, STATUS_RANK, formatTs, shortHash, sortKey, convPk, activitySk,
  isNewest, messageEffects, metaFrom, messageItem, claimSid, transact, log, truncateChars,
};

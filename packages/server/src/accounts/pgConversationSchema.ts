/**
 * The tables of conversations and mailboxes in PostgreSQL (pgConversations.ts uses them): the
 * account store's migration step that adds them, as sqliteConversations.ts's CONVERSATIONS_SCHEMA
 * does for SQLite, with the same names and meanings.
 *
 * One statement-level trigger on `deliveries` (its old rows as a transition table, so a cascade
 * that removes a device's 50,000 entries runs it once, not 50,000 times) keeps the mailbox counts
 * and the messages' `refs` right however deliveries go (ack, expiry, a device deleted), and deletes
 * a message with its last delivery. It locks the rows it changes in key order (heads, then
 * messages), as every writer here does, so that two acks of the same messages cannot deadlock.
 */

export const conversationsMigration = (q: (name: string) => string): string => `
  CREATE TABLE ${q('conversations')} (
    id TEXT PRIMARY KEY,
    epoch BIGINT NOT NULL,
    created_at BIGINT NOT NULL
  );
  CREATE TABLE ${q('members')} (
    conversation_id TEXT NOT NULL REFERENCES ${q('conversations')} (id) ON DELETE CASCADE,
    device_id TEXT NOT NULL REFERENCES ${q('devices')} (id) ON DELETE CASCADE,
    PRIMARY KEY (conversation_id, device_id)
  );
  CREATE INDEX ON ${q('members')} (device_id);
  CREATE TABLE ${q('messages')} (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    conversation TEXT NOT NULL,
    kind TEXT NOT NULL,
    sender TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    payload BYTEA NOT NULL,
    refs INTEGER NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
  );
  CREATE INDEX ON ${q('messages')} (expires_at);
  CREATE TABLE ${q('deliveries')} (
    device_id TEXT NOT NULL REFERENCES ${q('devices')} (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    message_id BIGINT NOT NULL REFERENCES ${q('messages')} (id),
    size INTEGER NOT NULL,
    PRIMARY KEY (device_id, seq)
  );
  CREATE INDEX ON ${q('deliveries')} (message_id);
  CREATE TABLE ${q('mailbox_heads')} (
    device_id TEXT PRIMARY KEY REFERENCES ${q('devices')} (id) ON DELETE CASCADE,
    next_seq BIGINT NOT NULL,
    entries INTEGER NOT NULL,
    bytes BIGINT NOT NULL
  );
  CREATE TABLE ${q('mail_losses')} (
    device_id TEXT NOT NULL REFERENCES ${q('devices')} (id) ON DELETE CASCADE,
    conversation TEXT NOT NULL,
    entries INTEGER NOT NULL,
    handshake BOOLEAN NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (device_id, conversation)
  );
  CREATE FUNCTION ${q('delivery_gone')}() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    PERFORM 1 FROM ${q('mailbox_heads')} WHERE device_id IN (SELECT device_id FROM gone) ORDER BY device_id FOR UPDATE;
    UPDATE ${q('mailbox_heads')} h SET entries = h.entries - g.n, bytes = h.bytes - g.b
      FROM (SELECT device_id, count(*) AS n, sum(size) AS b FROM gone GROUP BY device_id) g
     WHERE h.device_id = g.device_id;
    PERFORM 1 FROM ${q('messages')} WHERE id IN (SELECT message_id FROM gone) ORDER BY id FOR UPDATE;
    DELETE FROM ${q('messages')} m USING (SELECT message_id, count(*) AS n FROM gone GROUP BY message_id) g
     WHERE m.id = g.message_id AND m.refs <= g.n;
    UPDATE ${q('messages')} m SET refs = m.refs - g.n
      FROM (SELECT message_id, count(*) AS n FROM gone GROUP BY message_id) g
     WHERE m.id = g.message_id;
    RETURN NULL;
  END $$;
  CREATE TRIGGER delivery_gone AFTER DELETE ON ${q('deliveries')}
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION ${q('delivery_gone')}();`;

// Accounts' later migrations (the first tables are in db/migrations.ts, migration 1).
import type { Migration } from '../../db/migrations.ts';

/** CloudStack's session guards: a session is bound to its JSESSIONID cookie, and failed logins
 *  are counted per user (incorrect.login.attempts.allowed locks the user). */
export const SESSION_GUARDS_MIGRATION: Migration = {
  id: 20, name: 'sessions bound to JSESSIONID; failed login attempts per user',
  sql: `
ALTER TABLE sessions ADD COLUMN jsessionid text;
ALTER TABLE users ADD COLUMN login_attempts integer NOT NULL DEFAULT 0;
`,
};

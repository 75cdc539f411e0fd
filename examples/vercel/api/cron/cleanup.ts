// The cron job of vercel.json: removes expired and idle sessions (Vercel sends CRON_SECRET).
import { baton } from '../../lib/baton.js';

export const GET = baton.cleanup;

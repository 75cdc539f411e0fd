// Vercel function for the cron job in vercel.json: removes expired and idle sessions.
export { handleCleanup as GET } from '../../src/runtime/vercel.js';

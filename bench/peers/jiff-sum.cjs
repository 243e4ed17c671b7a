// jiff-mpc secure sum, for bench/aggregate.mjs only: `node jiff-sum.cjs server PORT [plain]`
// or `node jiff-sum.cjs party PORT ID COUNT LENGTH [plain]`. Each party secret-shares its
// COUNT values, padded with zeros to LENGTH (jiff's share_array needs equal lengths); the
// shares of all 3 parties are added and the total opened. With `plain`, jiff's libsodium
// encryption and signing of messages is off (`sodium: false`) on the server and parties.
const { JIFFServer, JIFFClient } = require('jiff-mpc');
const [, , role, port, id, count, length, mode] = process.argv;
const plain = (role === 'server' ? id : mode) === 'plain';
const crypto = plain ? { sodium: false } : {};
if (role === 'server') {
  const http = require('http').createServer();
  new JIFFServer(http, { logs: false, ...crypto });
  http.listen(Number(port), '127.0.0.1', () => process.stdout.write('listening\n'));
} else {
  const n = Number(count);
  const len = Number(length);
  const mine = Array.from({ length: len }, (_, i) => (i < n ? (Number(id) + 3 * i) % 1000 : 0));
  new JIFFClient(`http://127.0.0.1:${port}`, 'koppel-bench-sum', {
    party_count: 3,
    party_id: Number(id),
    crypto_provider: true,
    ...crypto,
    onConnect: async (j) => {
      const shares = await j.share_array(mine, len);
      let total = null;
      for (let p = 1; p <= 3; p++) for (const s of shares[p]) total = total === null ? s : total.sadd(s);
      const result = await j.open(total);
      process.stdout.write(JSON.stringify({ party: Number(id), sum: Number(result) }) + '\n');
      j.disconnect(true, true);
      setTimeout(() => process.exit(0), 100);
    },
  });
}

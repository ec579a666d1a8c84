// Builds (or finds in the cache) the embedded FerretDB binary: `npm run db:build`.
import { ensureFerretdbBinary } from '../src/db/embedded.ts';

console.log(ensureFerretdbBinary((line) => console.log(line)));

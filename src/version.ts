// Nebula's own version (package.json), for --version and for reports.
// A JSON import (not a runtime require): the bundler inlines it into the single executable.

import pkg from '../package.json' with { type: 'json' };

export const VERSION: string = pkg.version;

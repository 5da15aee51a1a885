/**
 * The web tests run the real `nullroom` binary (its relay serves the app) through the CLI's own
 * process harness, apps/cli/test/_spawn.ts, compiled beside the binary it runs. The dependency
 * points one way, web tests -> CLI tests, as the app's tests -> the command that serves the app; the
 * CLI's tests import nothing of the web's. The path is the same from this source file and from its
 * compiled copy (apps/web/dist-test/), both two levels under apps/.
 */
export * from '../../cli/dist/test/_spawn.js';

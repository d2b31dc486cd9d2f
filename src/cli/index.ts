import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config.js';
import { registerChannelCommands } from './channels.js';
import { registerDbCommands } from './db.js';
import { registerGenerateCommand } from './generate.js';
import { registerKeyCommands } from './keys.js';
import { registerWebhookCommands } from './webhooks.js';

const program = new Command('vidgate')
  .description('vidgate: self-hosted video-generation API gateway')
  .showHelpAfterError()
  .exitOverride();

program
  .command('start')
  .description('run the gateway (same as npm start)')
  .action(async () => {
    await import('../main.js');
  });
registerKeyCommands(program);
registerGenerateCommand(program);
registerWebhookCommands(program);
registerChannelCommands(program);
registerDbCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode);
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(2);
  }
  console.error(`vidgate: ${(err as Error).message}`);
  process.exit(1);
}

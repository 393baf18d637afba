// The one logger: Powertools for AWS Lambda (JSON lines with level, service and correlation keys), used
// by Lambdas and one-machine mode alike. Log phone numbers through maskPhone(), never raw.
import { Logger } from '@aws-lambda-powertools/logger';

type Level = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'SILENT';
const level = (process.env.LOG_LEVEL?.toUpperCase() ?? 'INFO') as Level;

export const logger = new Logger({
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'daily-positivity',
  logLevel: ['DEBUG', 'INFO', 'WARN', 'ERROR', 'SILENT'].includes(level) ? level : 'INFO',
});

export { maskPhone } from './domain/phone.js';

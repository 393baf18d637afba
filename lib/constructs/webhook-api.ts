// HTTP API in front of the webhooks Lambda: Twilio's inbound and status webhooks, /health, and the
// operator API under /api. The app authenticates each route itself (Twilio signature, bearer token).
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { LAMBDA_TIMEOUT_MS } from '../../src/domain/call-budgets.js';
import type { DeployedCapacity } from '../../src/domain/capacity.js';
import { ServiceFunction, type ServiceFunctionShared } from './service-function.js';

const { GET, HEAD, POST, PATCH, DELETE } = apigwv2.HttpMethod;

/**
 * Every route the webhooks app serves (src/handlers/webhooks.ts), with every method its `Allow` header
 * names. Anything else gets API Gateway's own `404 {"message":"Not Found"}` and never reaches the Lambda:
 * no `$default` route, so the scans every public endpoint receives cost no invocation and take none of the
 * concurrency Twilio's webhooks need (docs/webhooks.md).
 */
export const WEBHOOK_ROUTES: ReadonlyArray<{ path: string; methods: apigwv2.HttpMethod[] }> = [
  { path: '/twilio/inbound', methods: [POST] },
  { path: '/twilio/status', methods: [POST] },
  // HEAD: the method many uptime monitors check with.
  { path: '/health', methods: [GET, HEAD] },
  { path: '/api/subscribers', methods: [GET, POST] },
  { path: '/api/subscribers/{phone}', methods: [GET, PATCH, DELETE] },
  { path: '/api/subscribers/{phone}/send-now', methods: [POST] },
  { path: '/api/deliveries', methods: [GET] },
  { path: '/api/deliveries/{id}', methods: [GET] },
  { path: '/api/usage', methods: [GET] },
  { path: '/api/capacity', methods: [GET] },
  { path: '/api/openapi.json', methods: [GET] },
];

export interface WebhookApiProps {
  shared: ServiceFunctionShared;
  /** The stage's throttle, from the send pace (apiThrottle in src/domain/capacity.ts). */
  throttle: { rateLimit: number; burstLimit: number };
  /** The stage's capacity inputs, as synth checked them: what GET /api/capacity reports on. */
  capacity: DeployedCapacity;
}

export class WebhookApi extends Construct {
  readonly function: ServiceFunction;
  readonly api: apigwv2.HttpApi;
  /** https://{id}.execute-api.{region}.amazonaws.com — no trailing slash; PUBLIC_BASE_URL for every Lambda. */
  readonly baseUrl: string;

  constructor(scope: Construct, id: string, props: WebhookApiProps) {
    super(scope, id);

    this.function = new ServiceFunction(this, 'Webhooks', {
      shared: props.shared,
      name: 'webhooks',
      description: 'Twilio webhooks, health check and operator API',
      // API Gateway gives up after 30 s; Twilio after 15 s. The database work is budgeted inside it.
      timeout: Duration.millis(LAMBDA_TIMEOUT_MS.webhooks),
      memorySize: 512,
      // The stage's capacity inputs as synth checked them (about 600 bytes of the 4 KB environment).
      environment: { CAPACITY_SETTINGS: JSON.stringify(props.capacity) },
    });

    this.api = new apigwv2.HttpApi(this, 'Api', {
      description: 'Daily Positivity: Twilio webhooks and operator API',
      createDefaultStage: false,
    });
    const integration = new HttpLambdaIntegration('Webhooks', this.function.fn);
    for (const route of WEBHOOK_ROUTES) {
      this.api.addRoutes({ path: route.path, methods: route.methods, integration });
    }

    const accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      retention: props.shared.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    new apigwv2.HttpStage(this, 'DefaultStage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      throttle: props.throttle,
      accessLogSettings: {
        destination: new apigwv2.LogGroupLogDestination(accessLogs),
        // routeKey, not path: paths carry subscribers' phone numbers, which must not reach logs.
        format: apigw.AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            routeKey: '$context.routeKey',
            status: '$context.status',
            latencyMs: '$context.responseLatency',
            integrationError: '$context.integrationErrorMessage',
            sourceIp: '$context.identity.sourceIp',
          }),
        ),
      },
    });
    this.baseUrl = this.api.apiEndpoint;

    for (const route of this.api.node.findAll().filter((c) => c instanceof apigwv2.HttpRoute)) {
      Validations.of(route).acknowledge({
        id: 'AwsSolutions-APIG4',
        reason:
          'Authenticated in the app: Twilio routes by X-Twilio-Signature, /api by bearer token; /health and /api/openapi.json (the API description, no data) are public.',
      });
    }
  }
}

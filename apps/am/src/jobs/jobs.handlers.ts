import {
  ControlPattern,
  DlnError,
  EpochGateReply,
  ErrorCode,
  epochGateRequestSchema,
  ModelCatalogue,
  modelCatalogueRequestSchema,
  parseInput,
  roleReportSchema,
} from '@dln/contracts';
import { Controller, Logger } from '@nestjs/common';
import { EventPattern, MessagePattern, Payload } from '@nestjs/microservices';
import { JobReports } from './job-reports.service';
import { ModelRegistryService } from './model-registry.service';

/** NATS side of jobs: role reports (events), the epoch gate and the model catalogue (requests). */
@Controller()
export class JobsHandlers {
  private readonly logger = new Logger(JobsHandlers.name);

  constructor(
    private readonly reports: JobReports,
    private readonly models: ModelRegistryService,
  ) {}

  @EventPattern(ControlPattern.jobReports)
  async report(@Payload() payload: unknown): Promise<void> {
    const parsed = roleReportSchema.safeParse(payload);
    if (!parsed.success) {
      this.logger.warn({
        msg: 'invalid role report',
        issues: parsed.error.issues
          .slice(0, 5)
          .map((issue) => `${issue.path.join('.')}: ${issue.message}`),
      });
      return;
    }
    try {
      await this.reports.report(parsed.data);
    } catch (error) {
      this.logger.error({
        msg: 'role report failed',
        type: parsed.data.type,
        ...parsed.data.token,
        error: String(error),
      });
    }
  }

  @MessagePattern(ControlPattern.epochGate)
  gate(@Payload() payload: unknown): Promise<EpochGateReply> {
    return this.reports.gate(parseInput(epochGateRequestSchema, payload, 'epoch gate request'));
  }

  @MessagePattern(ControlPattern.modelCatalogue)
  async catalogue(@Payload() payload: unknown): Promise<ModelCatalogue> {
    const request = parseInput(
      modelCatalogueRequestSchema,
      payload ?? {},
      'model catalogue request',
    );
    const versions = await this.models.versions(request.model).catch((error: unknown) => {
      // A model without versions is an empty catalogue here, not an error.
      if (error instanceof DlnError && error.code === ErrorCode.NotFound) return [];
      throw error;
    });
    return { versions };
  }
}

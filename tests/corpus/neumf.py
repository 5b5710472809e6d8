# corpus: entry=NeuMF
# corpus: init=num_users=50, num_items=80, factor_num=8, num_layers=2
# corpus: input=user=16 long<50
# corpus: input=item=16 long<80
# Neural collaborative filtering (NeuMF): a GMF branch (element-wise product of user and item
# embeddings) and an MLP branch on their concatenation, fused by a final linear layer.
import torch
import torch.nn as nn


class NeuMF(nn.Module):
    def __init__(self, num_users, num_items, factor_num=32, num_layers=3, dropout=0.0):
        super(NeuMF, self).__init__()
        self.embed_user_GMF = nn.Embedding(num_users, factor_num)
        self.embed_item_GMF = nn.Embedding(num_items, factor_num)
        self.embed_user_MLP = nn.Embedding(num_users, factor_num * (2 ** (num_layers - 1)))
        self.embed_item_MLP = nn.Embedding(num_items, factor_num * (2 ** (num_layers - 1)))

        MLP_modules = []
        for i in range(num_layers):
            input_size = factor_num * (2 ** (num_layers - i))
            MLP_modules.append(nn.Dropout(p=dropout))
            MLP_modules.append(nn.Linear(input_size, input_size//2))
            MLP_modules.append(nn.ReLU())
        self.MLP_layers = nn.Sequential(*MLP_modules)

        self.predict_layer = nn.Linear(factor_num * 2, 1)

    def forward(self, user, item):
        embed_user_GMF = self.embed_user_GMF(user)
        embed_item_GMF = self.embed_item_GMF(item)
        output_GMF = embed_user_GMF * embed_item_GMF

        embed_user_MLP = self.embed_user_MLP(user)
        embed_item_MLP = self.embed_item_MLP(item)
        interaction = torch.cat((embed_user_MLP, embed_item_MLP), -1)
        output_MLP = self.MLP_layers(interaction)

        concat = torch.cat((output_GMF, output_MLP), -1)
        prediction = self.predict_layer(concat)
        return prediction.view(-1)
